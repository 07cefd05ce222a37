package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Shell completion. The scripts are thin: on each Tab they ask the binary
// (`cuttle completion __complete CWORD WORDS...`) for the candidates, which
// come from the command tables: main's commands(), apiCommands() with
// each command's flags as its code defines them (apiCLI.introspect), and
// credsSubcommands(). Endpoint, job and token IDs come from the API, with
// the connection flags typed so far.

const bashCompletion = `# bash completion for cuttle. Load it with:  source <(cuttle completion bash)
_cuttle_complete() {
    local line="${COMP_LINE:0:COMP_POINT}"
    local -a words
    read -r -a words <<< "$line"
    [[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]] && words+=("")
    local cur="${words[${#words[@]}-1]}"
    local IFS=$'\n'
    COMPREPLY=($("${words[0]}" completion __complete "$(( ${#words[@]} - 1 ))" "${words[@]}" 2>/dev/null))
    # bash has split the word at ':' and '=' (COMP_WORDBREAKS), as in
    # os::012345-0001 and --o=json: complete only the part after them.
    local wb="${COMP_WORDBREAKS//[^:=]/}"
    if [[ -n $wb && $cur == *["$wb"]* ]]; then
        local pre="${cur%"${cur##*["$wb"]}"}"
        COMPREPLY=("${COMPREPLY[@]#"$pre"}")
    fi
}
complete -o default -F _cuttle_complete cuttle
`

const zshCompletion = `#compdef cuttle
# zsh completion for cuttle. Load it with:  source <(cuttle completion zsh)
# (after compinit), or save it as _cuttle in a directory of $fpath.
_cuttle() {
    local -a cands
    cands=("${(@f)$("${words[1]}" completion __complete $(( CURRENT - 1 )) "${words[@]}" 2>/dev/null)}")
    cands=(${cands:#})
    if (( ${#cands} )); then
        compadd -- "${cands[@]}"
    else
        _files
    fi
}
if [[ "$funcstack[1]" == "_cuttle" ]]; then
    _cuttle "$@"
else
    compdef _cuttle cuttle
fi
`

func (c *apiCLI) completion(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: cuttle completion bash|zsh\n\nPrint a completion script for the shell. Load it in the current shell:\n  source <(cuttle completion bash)\nor in every shell: add that line to ~/.bashrc (or ~/.zshrc, after compinit).")
	}
	if c.introspect {
		c.flags = fs
		return errIntrospected
	}
	if len(args) > 0 && args[0] == "__complete" {
		return c.complete(ctx, args[1:])
	}
	if err := fs.Parse(args); err != nil {
		return helpOK(err)
	}
	switch {
	case fs.NArg() != 1:
		fs.Usage()
		return errUsage
	case fs.Arg(0) == "bash":
		_, err := io.WriteString(c.stdout, bashCompletion)
		return err
	case fs.Arg(0) == "zsh":
		_, err := io.WriteString(c.stdout, zshCompletion)
		return err
	}
	fmt.Fprintf(c.stderr, "cuttle completion: %q: want bash or zsh\n", fs.Arg(0))
	return errUsage
}

// complete prints the candidates for word CWORD of WORDS (WORDS[0] is the
// program), one per line. It never fails: a shell has no use for errors.
func (c *apiCLI) complete(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return nil
	}
	cword, err := strconv.Atoi(args[0])
	words := args[1:]
	if err != nil || cword < 1 || cword > len(words) {
		return nil
	}
	cur := ""
	if cword < len(words) {
		cur = words[cword]
	}
	for _, s := range c.candidates(ctx, words[1:cword], cur) {
		if strings.HasPrefix(s, cur) {
			fmt.Fprintln(c.stdout, s)
		}
	}
	return nil
}

// candidates returns what may follow the words before the cursor (the
// program name left out) as the word cur.
func (c *apiCLI) candidates(ctx context.Context, prev []string, cur string) []string {
	if len(prev) == 0 {
		var names []string
		for _, cmd := range commands() {
			names = append(names, cmd.name)
		}
		return append(names, "help")
	}
	var cmd cliCommand
	if i := slices.IndexFunc(apiCommands(), func(x cliCommand) bool { return x.name == prev[0] }); i >= 0 {
		cmd = apiCommands()[i]
	} else if prev[0] == "creds" && len(prev) == 1 {
		var names []string
		for _, sub := range credsSubcommands() {
			names = append(names, sub.name)
		}
		return names
	} else {
		return nil
	}
	rest := prev[1:]
	if cmd.subs != nil {
		if len(rest) == 0 {
			var names []string
			for _, sub := range cmd.subs {
				names = append(names, sub.name)
			}
			return names
		}
		i := slices.IndexFunc(cmd.subs, func(x cliCommand) bool { return x.name == rest[0] })
		if i < 0 {
			return nil
		}
		cmd, rest = cmd.subs[i], rest[1:]
	}
	if cmd.name == "completion" {
		if len(rest) == 0 {
			return []string{"bash", "zsh"}
		}
		return nil
	}
	fs := c.flagsOf(ctx, cmd)
	if fs == nil {
		return nil
	}
	full := cmd.name // "events", "job show"
	if prev[0] != cmd.name {
		full = prev[0] + " " + cmd.name
	}
	// The value of a flag: after "--flag " or in "--flag=".
	if n := len(rest); n > 0 && !strings.Contains(rest[n-1], "=") {
		if f := lookupFlag(fs, rest[n-1]); f != nil && !isBoolFlag(f) {
			return c.flagValues(ctx, full, f, rest, cur)
		}
	}
	if strings.HasPrefix(cur, "-") {
		if name, _, ok := strings.Cut(cur, "="); ok {
			f := lookupFlag(fs, name)
			if f == nil {
				return nil
			}
			var out []string
			for _, v := range c.flagValues(ctx, full, f, rest, "") {
				out = append(out, name+"="+v)
			}
			return out
		}
		var out []string
		fs.VisitAll(func(f *flag.Flag) {
			if len(f.Name) == 1 {
				out = append(out, "-"+f.Name)
			} else {
				out = append(out, "--"+f.Name)
			}
		})
		return out
	}
	if positionals(fs, rest) > 0 {
		return nil
	}
	switch {
	case prev[0] == "device":
		return c.remoteIDs(ctx, rest, "devices", cur)
	case full == "job show" || full == "job cancel":
		return c.remoteIDs(ctx, rest, "jobs", cur)
	case full == "token revoke":
		return c.remoteIDs(ctx, rest, "tokens", cur)
	}
	return nil
}

// flagsOf returns a command's flag set, defined by its own code.
func (c *apiCLI) flagsOf(ctx context.Context, cmd cliCommand) *flag.FlagSet {
	probe := &apiCLI{stdout: io.Discard, stderr: io.Discard, getenv: c.getenv, introspect: true}
	if cmd.run == nil || cmd.run(probe, ctx, nil) != errIntrospected {
		return nil
	}
	return probe.flags
}

// lookupFlag finds the flag an argument such as "-o", "--server" names.
func lookupFlag(fs *flag.FlagSet, arg string) *flag.Flag {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return nil
	}
	return fs.Lookup(strings.TrimLeft(arg, "-"))
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// positionals counts the positional arguments among args.
func positionals(fs *flag.FlagSet, args []string) int {
	n := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch f := lookupFlag(fs, a); {
		case a == "--":
			return n + len(args) - i - 1
		case f != nil && !isBoolFlag(f) && !strings.Contains(a, "="):
			i++ // its value
		case f == nil:
			n++
		}
	}
	return n
}

// flagValues lists the values a flag may take.
func (c *apiCLI) flagValues(ctx context.Context, command string, f *flag.Flag, rest []string, cur string) []string {
	switch f.Name {
	case "o":
		return strings.Split(strings.TrimPrefix(f.Usage, "output format: "), ", ")
	case "status":
		if command == "job show" {
			return []string{"ok", "usp_error", "bad_response", "timeout", "unreachable", "canceled", "skipped", "error"}
		}
		return []string{"online", "offline"}
	case "role":
		return tokenRoles
	case "op":
		return jobOperations
	case "state":
		return jobStates
	case "type":
		return eventTypes
	case "sort":
		return []string{"endpoint_id", "last_seen", "status", "model", "software_version", "status_since",
			"-endpoint_id", "-last_seen", "-status", "-model", "-software_version", "-status_since"}
	case "device", "devices":
		return c.remoteIDs(ctx, rest, "devices", cur)
	}
	return nil
}

// remoteIDs asks the API for the IDs of devices, jobs or tokens, with the
// connection flags among args; any failure means no candidates.
func (c *apiCLI) remoteIDs(ctx context.Context, args []string, what, cur string) []string {
	fs, cf := c.flagSet("completion", "", "")
	fs.SetOutput(io.Discard)
	for i := 0; i < len(args); i++ { // only the connection flags matter here
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || fs.Lookup(name) == nil {
			continue
		}
		if !hasValue && i+1 < len(args) {
			i++
			value = args[i]
		}
		_ = fs.Set(name, value)
	}
	api, err := c.client(cf)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var ids []string
	switch what {
	case "devices":
		q := url.Values{"limit": {strconv.Itoa(maxPageSize)}}
		if cur != "" {
			q.Set("q", cur)
		}
		var page struct {
			Devices []struct {
				ID string `json:"endpoint_id"`
			} `json:"devices"`
		}
		if _, err := api.doJSON(ctx, http.MethodGet, "/api/v1/devices", q, nil, &page); err != nil {
			return nil
		}
		for _, d := range page.Devices {
			ids = append(ids, d.ID)
		}
	case "jobs", "tokens":
		path, q := "/api/v1/tokens", url.Values(nil)
		if what == "jobs" {
			path, q = "/api/v1/jobs", url.Values{"limit": {"100"}}
		}
		type item struct {
			ID string `json:"id"`
		}
		var page struct{ Jobs, Tokens []item }
		if _, err := api.doJSON(ctx, http.MethodGet, path, q, nil, &page); err != nil {
			return nil
		}
		for _, x := range append(page.Jobs, page.Tokens...) {
			ids = append(ids, x.ID)
		}
	}
	return ids
}
