package main

import (
	"errors"
	"flag"
	"fmt"

	"cuttle/internal/options"
)

// Command lines of the sub-commands. The long-running ones (up, broker,
// controller, nats, sim) and health take options from flags, the
// environment and a config file; the API commands and creds take
// positional arguments, among which flags may come anywhere.

// parseOptions parses the options of a long-running command or health:
// -h is options.ErrHelp, which helpOK turns into success as the usage is
// printed; any other problem is a usage error.
func parseOptions(set *options.Set, args []string, getenv func(string) string) error {
	err := set.Parse(args, getenv)
	if err == nil || errors.Is(err, options.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %v", errUsage, err)
}

// parseAnywhere parses flags wherever they appear among the positional
// arguments (`disable U --nats URL` as well as `disable --nats URL U`), and
// returns the positional ones. After "--" everything is positional.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseArgs is parseAnywhere, then checks the number of positional
// arguments (maxPos < 0: no limit). It returns flag.ErrHelp for -h and
// errUsage for a mistake, the usage printed in both cases.
func parseArgs(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	pos, err := parseAnywhere(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, flag.ErrHelp
	case err != nil:
		return nil, errUsage // flag has printed the problem and the usage
	case len(pos) < minPos:
		return nil, usageError(fs, "missing argument")
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, usageError(fs, "unexpected argument %q", pos[maxPos])
	}
	return pos, nil
}

// usageError reports a command-line mistake with the command's usage, on
// the flag set's output.
func usageError(fs *flag.FlagSet, format string, v ...any) error {
	fmt.Fprintf(fs.Output(), "cuttle %s: %s\n\n", fs.Name(), fmt.Sprintf(format, v...))
	fs.Usage()
	return errUsage
}
