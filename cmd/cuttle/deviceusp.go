package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The USP operations of `cuttle device`: each posts to
// /api/v1/devices/{id}/<operation> and prints the result, -o json exactly
// as the API returned it. Per-path failures (USP errors inside a result)
// are printed on stderr after the rest and make the exit status 1.

// failures collects the failures inside a USP result.
type failures []string

func (f *failures) add(where string, e uspError) {
	*f = append(*f, fmt.Sprintf("%s: %s", where, e))
}

func (f *failures) addf(format string, v ...any) {
	*f = append(*f, fmt.Sprintf(format, v...))
}

// partialError reports that part of an operation failed; the failures
// themselves have been printed.
type partialError struct{ msg string }

func (e *partialError) Error() string { return e.msg }

// report prints the failures after the output and returns the error that
// makes the exit status 1, or nil.
func (c *apiCLI) report(f failures, what string) error {
	if len(f) == 0 {
		return nil
	}
	for _, s := range f {
		c.warn("%s", s)
	}
	if len(f) == 1 {
		return &partialError{fmt.Sprintf("%s: 1 failure", what)}
	}
	return &partialError{fmt.Sprintf("%s: %d failures", what, len(f))}
}

// uspCall posts body to the device's operation and decodes the result
// into out; it returns the result as the API sent it.
func (c *apiCLI) uspCall(ctx context.Context, cf *connFlags, id, op string, body, out any) ([]byte, error) {
	api, err := c.client(cf)
	if err != nil {
		return nil, err
	}
	return api.doJSON(ctx, http.MethodPost, devicePath(id, op), nil, body, out)
}

// uspFlagSet is flagSet with -o table|json|yaml.
func (c *apiCLI) uspFlagSet(name, args, summary string) (*flagSetWithOutput, *connFlags) {
	fs, cf := c.flagSet(name, args, summary)
	return &flagSetWithOutput{FlagSet: fs, out: c.outputFlag(fs, fmtTable, fmtJSON, fmtYAML)}, cf
}

// parseUSP parses a USP command's arguments: at least minPos positional
// ones, the first being the endpoint ID.
func (c *apiCLI) parseUSP(fs *flagSetWithOutput, args []string, minPos int) ([]string, error) {
	pos, err := c.parse(fs.FlagSet, args, minPos, -1)
	if err != nil {
		return nil, err
	}
	if err := c.checkOutput(fs.FlagSet, *fs.out, fmtTable, fmtJSON, fmtYAML); err != nil {
		return nil, err
	}
	return pos, nil
}

type getResponse struct {
	Results []struct {
		RequestedPath string    `json:"requested_path"`
		Error         *uspError `json:"error"`
	} `json:"results"`
	Values map[string]string `json:"values"`
}

func (c *apiCLI) deviceGet(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device get", "ID PATH...", "Read parameters: object paths (Device.WiFi.), parameter paths and search paths. The table lists every parameter returned with its full path; -o json prints the API's result, whose values map has the same.")
	depth := fs.Int("max-depth", 0, "how deep below each object path to read (0: all the way)")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	if *depth < 0 {
		return c.usageError(fs.FlagSet, "--max-depth must not be negative")
	}
	body := map[string]any{"paths": pos[1:]}
	if *depth > 0 {
		body["max_depth"] = *depth
	}
	var res getResponse
	raw, err := c.uspCall(ctx, cf, pos[0], "get", body, &res)
	if err != nil {
		return err
	}
	var f failures
	for _, r := range res.Results {
		if r.Error != nil {
			f.add(r.RequestedPath, *r.Error)
		}
	}
	if err := c.printValues(*fs.out, raw, res.Values); err != nil {
		return err
	}
	return c.report(f, "get")
}

// printValues prints a values map as PATH VALUE rows, or raw as it is.
func (c *apiCLI) printValues(format string, raw []byte, values map[string]string) error {
	if format != fmtTable {
		return printDoc(c.stdout, format, raw)
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "PATH\tVALUE")
	for _, p := range sortedPaths(values) {
		fmt.Fprintf(tw, "%s\t%s\n", cell(p), value(values[p]))
	}
	return tw.Flush()
}

// setObject is an object of a Set or an Add request.
type setObject struct {
	Path     string            `json:"path"`
	Params   map[string]string `json:"params,omitempty"`
	Required []string          `json:"required,omitempty"`
}

// splitPathAssignment splits "PATH=VALUE" at the first '=' outside a
// search expression's brackets (Device.WiFi.SSID.[Alias=="a"].SSID=b).
func splitPathAssignment(s string) (path, value string, ok bool) {
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' && depth > 0:
			quoted = !quoted
		case quoted:
		case c == '[':
			depth++
		case c == ']' && depth > 0:
			depth--
		case c == '=' && depth == 0:
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}

// groupSet turns PATH=VALUE arguments into Set objects, one per object
// path, in the order the objects first appear.
func groupSet(args []string, required bool) ([]setObject, error) {
	var objs []setObject
	index := map[string]int{}
	for _, a := range args {
		p, v, ok := splitPathAssignment(a)
		dot := strings.LastIndexByte(p, '.')
		if !ok || dot <= 0 || dot == len(p)-1 || strings.HasSuffix(p, ")") {
			return nil, fmt.Errorf("%q: want PARAMETER-PATH=VALUE, such as Device.WiFi.SSID.1.SSID=home", a)
		}
		obj, name := p[:dot+1], p[dot+1:]
		i, seen := index[obj]
		if !seen {
			i = len(objs)
			index[obj] = i
			objs = append(objs, setObject{Path: obj, Params: map[string]string{}})
		}
		if _, dup := objs[i].Params[name]; dup {
			return nil, fmt.Errorf("%s is given twice", p)
		}
		objs[i].Params[name] = v
		if required {
			objs[i].Required = append(objs[i].Required, name)
		}
	}
	for i := range objs {
		slices.Sort(objs[i].Required)
	}
	return objs, nil
}

type setResponse struct {
	Results []struct {
		RequestedPath string    `json:"requested_path"`
		Error         *uspError `json:"error"`
		Updated       []struct {
			Path        string     `json:"path"`
			ParamErrors []uspError `json:"param_errors"`
		} `json:"updated"`
		Failed []struct {
			Path        string     `json:"path"`
			ParamErrors []uspError `json:"param_errors"`
		} `json:"failed"`
	} `json:"results"`
	Values map[string]string `json:"values"`
}

// paramPath is the full path of a parameter error inside instance path.
func paramPath(instance string, e uspError) string {
	switch {
	case e.Param == "":
		return instance
	case strings.HasPrefix(e.Param, "Device."):
		return e.Param
	}
	return instance + e.Param
}

func (c *apiCLI) deviceSet(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device set", "ID PATH=VALUE...", "Change parameters. PATH is a parameter path, possibly through a search path; parameters of one object go in one request object. The table lists the parameters changed.")
	partial := fs.Bool("allow-partial", false, "apply the objects that succeed even when others fail")
	required := fs.Bool("required", false, "every parameter is required: one that fails fails its whole object")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	objs, err := groupSet(pos[1:], *required)
	if err != nil {
		return c.usageError(fs.FlagSet, "%v", err)
	}
	var res setResponse
	raw, err := c.uspCall(ctx, cf, pos[0], "set", map[string]any{"allow_partial": *partial, "objects": objs}, &res)
	if err != nil {
		return err
	}
	var f failures
	for _, r := range res.Results {
		if r.Error != nil {
			f.add(r.RequestedPath, *r.Error)
		}
		for _, u := range r.Updated {
			for _, pe := range u.ParamErrors {
				f.add(paramPath(u.Path, pe), pe)
			}
		}
		for _, u := range r.Failed {
			for _, pe := range u.ParamErrors {
				f.add(paramPath(u.Path, pe), pe)
			}
		}
	}
	if err := c.printValues(*fs.out, raw, res.Values); err != nil {
		return err
	}
	return c.report(f, "set")
}

func (c *apiCLI) deviceAdd(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device add", "ID OBJPATH [PARAM=VALUE...]", "Create an instance of a table (Device.LocalAgent.Subscription.) with the given parameters, named relative to it.")
	required := fs.Bool("required", false, "every parameter is required: one that fails fails the Add")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	params, err := paramAssignments(pos[2:])
	if err != nil {
		return c.usageError(fs.FlagSet, "%v", err)
	}
	obj := setObject{Path: pos[1], Params: params}
	if *required {
		obj.Required = sortedPaths(params)
	}
	var res struct {
		Results []struct {
			RequestedPath    string            `json:"requested_path"`
			Error            *uspError         `json:"error"`
			InstantiatedPath string            `json:"instantiated_path"`
			UniqueKeys       map[string]string `json:"unique_keys"`
			ParamErrors      []uspError        `json:"param_errors"`
		} `json:"results"`
	}
	raw, err := c.uspCall(ctx, cf, pos[0], "add", map[string]any{"objects": []setObject{obj}}, &res)
	if err != nil {
		return err
	}
	var f failures
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "CREATED\tUNIQUE KEYS")
	for _, r := range res.Results {
		if r.Error != nil {
			f.add(r.RequestedPath, *r.Error)
		}
		for _, pe := range r.ParamErrors {
			f.add(paramPath(cmp.Or(r.InstantiatedPath, r.RequestedPath), pe), pe)
		}
		if r.InstantiatedPath != "" {
			fmt.Fprintf(tw, "%s\t%s\n", cell(r.InstantiatedPath), cell(joinKV(r.UniqueKeys, ",")))
		}
	}
	if err := c.printTableOr(*fs.out, raw, tw.Flush); err != nil {
		return err
	}
	return c.report(f, "add")
}

// printTableOr flushes the table, or prints raw for -o json and yaml.
func (c *apiCLI) printTableOr(format string, raw []byte, flush func() error) error {
	if format != fmtTable {
		return printDoc(c.stdout, format, raw)
	}
	return flush()
}

func (c *apiCLI) deviceDelete(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device delete", "ID OBJPATH...", "Delete object instances (paths ending in '.', possibly search paths). To remove a device from the inventory, use `cuttle device rm`.")
	partial := fs.Bool("allow-partial", false, "delete what can be deleted even when some paths fail")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	var res struct {
		Results []struct {
			RequestedPath string     `json:"requested_path"`
			Error         *uspError  `json:"error"`
			Affected      []string   `json:"affected"`
			Unaffected    []uspError `json:"unaffected"`
		} `json:"results"`
	}
	raw, err := c.uspCall(ctx, cf, pos[0], "delete", map[string]any{"allow_partial": *partial, "paths": pos[1:]}, &res)
	if err != nil {
		return err
	}
	var f failures
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "DELETED")
	for _, r := range res.Results {
		if r.Error != nil {
			f.add(r.RequestedPath, *r.Error)
		}
		for _, u := range r.Unaffected {
			f.add(cmp.Or(u.Path, r.RequestedPath), u)
		}
		for _, p := range r.Affected {
			fmt.Fprintln(tw, cell(p))
		}
	}
	if err := c.printTableOr(*fs.out, raw, tw.Flush); err != nil {
		return err
	}
	return c.report(f, "delete")
}

type operateResponse struct {
	CommandKey string `json:"command_key"`
	Results    []struct {
		Command     string            `json:"command"`
		Status      string            `json:"status"`
		RequestPath string            `json:"request_path"`
		Output      map[string]string `json:"output"`
		Error       *uspError         `json:"error"`
	} `json:"results"`
}

func (c *apiCLI) deviceOperate(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device operate", "ID COMMAND [ARG=VALUE...]", "Run a command, such as Device.Reboot() or Device.DeviceInfo.FirmwareImage.2.Download(). With --wait, an asynchronous command is followed until its OperationComplete, or the timeout; a command still running then is a failure (exit status 1).")
	key := fs.String("key", "", "command key, echoed in the OperationComplete (default: generated with --wait)")
	wait := fs.Bool("wait", false, "wait for an asynchronous command to complete")
	timeout := fs.Duration("timeout", 0, "how long --wait waits (default 60s, at most 10m)")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	if *timeout != 0 && !*wait {
		return c.usageError(fs.FlagSet, "--timeout needs --wait")
	}
	if *timeout < 0 {
		return c.usageError(fs.FlagSet, "--timeout must be positive")
	}
	inputs, err := paramAssignments(pos[2:])
	if err != nil {
		return c.usageError(fs.FlagSet, "%v", err)
	}
	body := map[string]any{"command": pos[1], "input_args": inputs, "wait": *wait}
	if *key != "" {
		body["command_key"] = *key
	}
	if *timeout > 0 {
		body["timeout"] = timeout.String()
	}
	var res operateResponse
	raw, err := c.uspCall(ctx, cf, pos[0], "operate", body, &res)
	if err != nil {
		return err
	}
	var f failures
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "COMMAND\tSTATUS\tREQUEST\tOUTPUT")
	for _, r := range res.Results {
		switch {
		case r.Error != nil:
			f.add(r.Command, *r.Error)
		case r.Status == "pending":
			f.addf("%s: still running when the wait ended; follow it with `cuttle events --device %s --type operation_complete --follow` (command key %s)",
				r.Command, pos[0], res.CommandKey)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(r.Command), r.Status, cell(r.RequestPath), cell(joinKV(r.Output, " ")))
	}
	if err := c.printTableOr(*fs.out, raw, tw.Flush); err != nil {
		return err
	}
	return c.report(f, "operate")
}

func (c *apiCLI) deviceInstances(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device instances", "ID PATH...", "List the instances of tables under object paths, with their unique keys.")
	first := fs.Bool("first-level", false, "only the tables directly under each path")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	var res struct {
		Results []struct {
			RequestedPath string    `json:"requested_path"`
			Error         *uspError `json:"error"`
			Instances     []struct {
				Path       string            `json:"path"`
				UniqueKeys map[string]string `json:"unique_keys"`
			} `json:"instances"`
		} `json:"results"`
	}
	raw, err := c.uspCall(ctx, cf, pos[0], "instances", map[string]any{"paths": pos[1:], "first_level_only": *first}, &res)
	if err != nil {
		return err
	}
	var f failures
	keys := map[string]string{}
	for _, r := range res.Results {
		if r.Error != nil {
			f.add(r.RequestedPath, *r.Error)
		}
		for _, in := range r.Instances {
			keys[in.Path] = joinKV(in.UniqueKeys, ",")
		}
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "INSTANCE\tUNIQUE KEYS")
	for _, p := range sortedPaths(keys) {
		fmt.Fprintf(tw, "%s\t%s\n", cell(p), cell(keys[p]))
	}
	if err := c.printTableOr(*fs.out, raw, tw.Flush); err != nil {
		return err
	}
	return c.report(f, "instances")
}

func (c *apiCLI) deviceSupportedDM(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device supported-dm", "ID PATH...", "Describe the data model a device supports under object paths (Device., Device.WiFi.SSID.{i}.): its objects and, when asked, their parameters, commands and events.")
	params := fs.Bool("params", false, "include parameters")
	commands := fs.Bool("commands", false, "include commands")
	events := fs.Bool("events", false, "include events")
	keys := fs.Bool("unique-keys", false, "include the unique key sets of tables (-o json or yaml shows them)")
	first := fs.Bool("first-level", false, "only the objects directly under each path")
	pos, err := c.parseUSP(fs, args, 2)
	if err != nil {
		return helpOK(err)
	}
	var res struct {
		Results []struct {
			RequestedPath string    `json:"requested_path"`
			Error         *uspError `json:"error"`
			Objects       []struct {
				Path          string `json:"path"`
				Access        string `json:"access"`
				MultiInstance bool   `json:"multi_instance"`
				Params        []struct {
					Name   string `json:"name"`
					Access string `json:"access"`
					Type   string `json:"type"`
				} `json:"params"`
				Commands []struct {
					Name string `json:"name"`
					Type string `json:"type"`
				} `json:"commands"`
				Events []struct {
					Name string `json:"name"`
				} `json:"events"`
			} `json:"objects"`
		} `json:"results"`
	}
	raw, err := c.uspCall(ctx, cf, pos[0], "supported-dm", map[string]any{"paths": pos[1:], "first_level_only": *first,
		"return_params": *params, "return_commands": *commands, "return_events": *events, "return_unique_key_sets": *keys}, &res)
	if err != nil {
		return err
	}
	var f failures
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "PATH\tKIND\tACCESS\tTYPE")
	for _, r := range res.Results {
		if r.Error != nil {
			f.add(r.RequestedPath, *r.Error)
		}
		for _, o := range r.Objects {
			kind := "object"
			if o.MultiInstance {
				kind = "table"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\n", cell(o.Path), kind, dash(o.Access))
			for _, p := range o.Params {
				fmt.Fprintf(tw, "%s\tparam\t%s\t%s\n", cell(o.Path+p.Name), dash(p.Access), dash(p.Type))
			}
			for _, cmd := range o.Commands {
				fmt.Fprintf(tw, "%s\tcommand\t-\t%s\n", cell(o.Path+cmd.Name), dash(cmd.Type))
			}
			for _, e := range o.Events {
				fmt.Fprintf(tw, "%s\tevent\t-\t-\n", cell(o.Path+e.Name))
			}
		}
	}
	if err := c.printTableOr(*fs.out, raw, tw.Flush); err != nil {
		return err
	}
	return c.report(f, "supported-dm")
}
