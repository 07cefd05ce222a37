// Package options reads a command's settings from flags, environment
// variables and an optional YAML file, all under the same names: the option
// "max-connections" is the flag --max-connections, the variable
// CUTTLE_MAX_CONNECTIONS and the YAML key max-connections. A flag beats the
// environment, which beats the file, which beats the default. Every bad
// value, and every unknown key in the file, is an error that names it.
package options

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrHelp is returned by Parse when -h or --help was given; the usage has
// been printed.
var ErrHelp = flag.ErrHelp

// Set is the options of one command.
type Set struct {
	fs     *flag.FlagSet
	names  []string
	config string // --config: the YAML file
}

// New returns an empty set for the command name; usage goes to out.
func New(name string, out io.Writer) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	s := &Set{fs: fs}
	fs.StringVar(&s.config, "config", "", "YAML file with options under the same names as the flags (env CUTTLE_CONFIG)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: cuttle %s [flags]\n\nEvery flag can also be set as the environment variable CUTTLE_<NAME> (upper case, '-' as '_') or as a key in the --config YAML file.\n\nFlags:\n", name)
		fs.PrintDefaults()
	}
	return s
}

// FlagSet exposes the underlying flag set, e.g. for positional arguments.
func (s *Set) FlagSet() *flag.FlagSet { return s.fs }

func (s *Set) add(name, help string, v flag.Value) {
	s.fs.Var(v, name, help)
	s.names = append(s.names, name)
}

// String defines a string option.
func (s *Set) String(p *string, name, def, help string) {
	*p = def
	s.add(name, help, (*stringValue)(p))
}

// Int defines an integer option.
func (s *Set) Int(p *int, name string, def int, help string) {
	*p = def
	s.add(name, help, (*intValue)(p))
}

// Uint defines an unsigned integer option; sizes accept KiB/MiB suffixes.
func (s *Set) Uint(p *uint64, name string, def uint64, help string) {
	*p = def
	s.add(name, help, (*sizeValue)(p))
}

// Bool defines a boolean option.
func (s *Set) Bool(p *bool, name string, def bool, help string) {
	*p = def
	s.add(name, help, (*boolValue)(p))
}

// Duration defines a duration option ("10s", "1h30m").
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, help string) {
	*p = def
	s.add(name, help, (*durationValue)(p))
}

// EnvName returns the environment variable of an option.
func EnvName(name string) string {
	return "CUTTLE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse reads args, then the environment (through getenv; nil means
// os.Getenv), then the --config file, each filling only options that the
// earlier sources left unset.
func (s *Set) Parse(args []string, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range s.names {
		if set[name] {
			continue
		}
		if v, ok := lookup(getenv, EnvName(name)); ok {
			if err := s.fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", EnvName(name), unwrapFlagErr(err))
			}
			set[name] = true
		}
	}
	if s.config == "" {
		s.config = getenv("CUTTLE_CONFIG")
	}
	if s.config == "" {
		return nil
	}
	return s.readFile(s.config, set)
}

func lookup(getenv func(string) string, key string) (string, bool) {
	v := getenv(key)
	return v, v != ""
}

func (s *Set) readFile(file string, set map[string]bool) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return fmt.Errorf("config %s: %w", file, err)
	}
	known := map[string]bool{}
	for _, n := range s.names {
		known[n] = true
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return fmt.Errorf("config %s: unknown option %q", file, k)
		}
		if set[k] {
			continue
		}
		v := values[k]
		if _, isMap := v.(map[string]any); isMap {
			return fmt.Errorf("config %s: option %q must be a single value", file, k)
		}
		if err := s.fs.Set(k, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("config %s: %s: %w", file, k, unwrapFlagErr(err))
		}
	}
	return nil
}

func unwrapFlagErr(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type sizeValue uint64

func (v *sizeValue) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := uint64(1)
	for suffix, m := range map[string]uint64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, suffix)), m
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size (a number, optionally with KiB, MiB or GiB)", s)
	}
	*v = sizeValue(n * mult)
	return nil
}
func (v *sizeValue) String() string { return strconv.FormatUint(uint64(*v), 10) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a boolean", s)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 10s, 5m, 1h)", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }
