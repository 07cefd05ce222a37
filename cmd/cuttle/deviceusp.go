package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
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

// uspFlagSet is outputFlagSet with the USP operations' formats.
func (c *apiCLI) uspFlagSet(name, args, summary string) (*flagSetWithOutput, *connFlags) {
	return c.outputFlagSet(name, args, summary, fmtTable, fmtJSON, fmtYAML)
}

// runUSP posts body to the device's operation op, decodes the result into
// res and prints it: for -o json and yaml as the API sent it, else as a
// table with header, whose rows fill writes from res along with the
// failures it finds there. The failures follow on stderr.
func (c *apiCLI) runUSP(ctx context.Context, fs *flagSetWithOutput, cf *connFlags, id, op string, body, res any,
	header string, fill func(tw io.Writer, f *failures)) error {
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	raw, err := api.doJSON(ctx, http.MethodPost, devicePath(id, op), nil, body, res)
	if err != nil {
		return err
	}
	// The table is written for -o json and yaml too, to find the
	// failures, but thrown away: a tabwriter passes a table of one column
	// (delete's) straight through, before the document.
	var table io.Writer = io.Discard
	if *fs.out == fmtTable {
		table = c.stdout
	}
	var f failures
	tw := newTable(table)
	fmt.Fprintln(tw, header)
	fill(tw, &f)
	if *fs.out != fmtTable {
		err = printDoc(c.stdout, *fs.out, raw)
	} else {
		err = tw.Flush()
	}
	if err != nil {
		return err
	}
	return c.report(f, op)
}

// requested starts every result of a USP operation but Operate's: the
// path asked for and, when the request failed as a whole, its USP error.
type requested struct {
	RequestedPath string    `json:"requested_path"`
	Error         *uspError `json:"error"`
}

func (r requested) addFailure(f *failures) {
	if r.Error != nil {
		f.add(r.RequestedPath, *r.Error)
	}
}

type getResponse struct {
	Results []requested       `json:"results"`
	Values  map[string]string `json:"values"`
}

func (c *apiCLI) deviceGet(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device get", "ID PATH...", "Read parameters: object paths (Device.WiFi.), parameter paths and search paths. The table lists every parameter returned with its full path; -o json prints the API's result, whose values map has the same.")
	depth := fs.Int("max-depth", 0, "how deep below each object path to read (0: all the way)")
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	if *depth < 0 {
		return usageError(fs.FlagSet, "--max-depth must not be negative")
	}
	var res getResponse
	return c.runUSP(ctx, fs, cf, pos[0], "get", getRequest(pos[1:], *depth), &res, valuesHeader, func(tw io.Writer, f *failures) {
		for _, r := range res.Results {
			r.addFailure(f)
		}
		writeValues(tw, res.Values)
	})
}

// valuesHeader heads the table of writeValues.
const valuesHeader = "PATH\tVALUE"

// writeValues writes a values map as PATH VALUE rows.
func writeValues(tw io.Writer, values map[string]string) {
	for _, p := range sortedPaths(values) {
		fmt.Fprintf(tw, "%s\t%s\n", cell(p), value(values[p]))
	}
}

type setResponse struct {
	Results []struct {
		requested
		Updated []setInstance `json:"updated"`
		Failed  []setInstance `json:"failed"`
	} `json:"results"`
	Values map[string]string `json:"values"`
}

// setInstance is an object instance a Set updated, or failed to.
type setInstance struct {
	Path        string     `json:"path"`
	ParamErrors []uspError `json:"param_errors"`
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
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	body, err := setRequest(pos[1:], *partial, *required)
	if err != nil {
		return usageError(fs.FlagSet, "%v", err)
	}
	var res setResponse
	return c.runUSP(ctx, fs, cf, pos[0], "set", body, &res, valuesHeader, func(tw io.Writer, f *failures) {
		for _, r := range res.Results {
			r.addFailure(f)
			for _, u := range slices.Concat(r.Updated, r.Failed) {
				for _, pe := range u.ParamErrors {
					f.add(paramPath(u.Path, pe), pe)
				}
			}
		}
		writeValues(tw, res.Values)
	})
}

func (c *apiCLI) deviceAdd(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device add", "ID OBJPATH [PARAM=VALUE...]", "Create an instance of a table (Device.LocalAgent.Subscription.) with the given parameters, named relative to it.")
	required := fs.Bool("required", false, "every parameter is required: one that fails fails the Add")
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	body, err := addRequest(pos[1], pos[2:], *required)
	if err != nil {
		return usageError(fs.FlagSet, "%v", err)
	}
	var res struct {
		Results []struct {
			requested
			InstantiatedPath string            `json:"instantiated_path"`
			UniqueKeys       map[string]string `json:"unique_keys"`
			ParamErrors      []uspError        `json:"param_errors"`
		} `json:"results"`
	}
	return c.runUSP(ctx, fs, cf, pos[0], "add", body, &res, "CREATED\tUNIQUE KEYS", func(tw io.Writer, f *failures) {
		for _, r := range res.Results {
			r.addFailure(f)
			for _, pe := range r.ParamErrors {
				f.add(paramPath(cmp.Or(r.InstantiatedPath, r.RequestedPath), pe), pe)
			}
			if r.InstantiatedPath != "" {
				fmt.Fprintf(tw, "%s\t%s\n", cell(r.InstantiatedPath), cell(joinKV(r.UniqueKeys, ",")))
			}
		}
	})
}

func (c *apiCLI) deviceDelete(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device delete", "ID OBJPATH...", "Delete object instances (paths ending in '.', possibly search paths). To remove a device from the inventory, use `cuttle device rm`.")
	partial := fs.Bool("allow-partial", false, "delete what can be deleted even when some paths fail")
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	var res struct {
		Results []struct {
			requested
			Affected   []string   `json:"affected"`
			Unaffected []uspError `json:"unaffected"`
		} `json:"results"`
	}
	return c.runUSP(ctx, fs, cf, pos[0], "delete", deleteRequest(pos[1:], *partial), &res, "DELETED", func(tw io.Writer, f *failures) {
		for _, r := range res.Results {
			r.addFailure(f)
			for _, u := range r.Unaffected {
				f.add(cmp.Or(u.Path, r.RequestedPath), u)
			}
			for _, p := range r.Affected {
				fmt.Fprintln(tw, cell(p))
			}
		}
	})
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
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	if *timeout != 0 && !*wait {
		return usageError(fs.FlagSet, "--timeout needs --wait")
	}
	if *timeout < 0 {
		return usageError(fs.FlagSet, "--timeout must be positive")
	}
	body, err := operateRequest(pos[1], pos[2:], *key)
	if err != nil {
		return usageError(fs.FlagSet, "%v", err)
	}
	body["wait"] = *wait
	if *timeout > 0 {
		body["timeout"] = timeout.String()
	}
	var res operateResponse
	return c.runUSP(ctx, fs, cf, pos[0], "operate", body, &res, "COMMAND\tSTATUS\tREQUEST\tOUTPUT", func(tw io.Writer, f *failures) {
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
	})
}

func (c *apiCLI) deviceInstances(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device instances", "ID PATH...", "List the instances of tables under object paths, with their unique keys.")
	first := fs.Bool("first-level", false, "only the tables directly under each path")
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	var res struct {
		Results []struct {
			requested
			Instances []struct {
				Path       string            `json:"path"`
				UniqueKeys map[string]string `json:"unique_keys"`
			} `json:"instances"`
		} `json:"results"`
	}
	return c.runUSP(ctx, fs, cf, pos[0], "instances", instancesRequest(pos[1:], *first), &res, "INSTANCE\tUNIQUE KEYS", func(tw io.Writer, f *failures) {
		keys := map[string]string{}
		for _, r := range res.Results {
			r.addFailure(f)
			for _, in := range r.Instances {
				keys[in.Path] = joinKV(in.UniqueKeys, ",")
			}
		}
		for _, p := range sortedPaths(keys) {
			fmt.Fprintf(tw, "%s\t%s\n", cell(p), cell(keys[p]))
		}
	})
}

func (c *apiCLI) deviceSupportedDM(ctx context.Context, args []string) error {
	fs, cf := c.uspFlagSet("device supported-dm", "ID PATH...", "Describe the data model a device supports under object paths (Device., Device.WiFi.SSID.{i}.): its objects and, when asked, their parameters, commands and events.")
	params := fs.Bool("params", false, "include parameters")
	commands := fs.Bool("commands", false, "include commands")
	events := fs.Bool("events", false, "include events")
	keys := fs.Bool("unique-keys", false, "include the unique key sets of tables (-o json or yaml shows them)")
	first := fs.Bool("first-level", false, "only the objects directly under each path")
	pos, err := c.parseOutput(fs, args, 2, -1)
	if err != nil {
		return helpOK(err)
	}
	var res struct {
		Results []struct {
			requested
			Objects []struct {
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
	body := map[string]any{"paths": pos[1:], "first_level_only": *first,
		"return_params": *params, "return_commands": *commands, "return_events": *events, "return_unique_key_sets": *keys}
	return c.runUSP(ctx, fs, cf, pos[0], "supported-dm", body, &res, "PATH\tKIND\tACCESS\tTYPE", func(tw io.Writer, f *failures) {
		for _, r := range res.Results {
			r.addFailure(f)
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
	})
}
