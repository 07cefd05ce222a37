package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// `cuttle job`: bulk jobs (controller/jobs), one USP operation applied to
// many devices with a concurrency limit, per-device results and progress.

func jobCommands() []cliCommand {
	return []cliCommand{
		{name: "create", summary: "start a job over devices chosen by ID or selector", run: (*apiCLI).jobCreate},
		{name: "ls", summary: "list jobs, newest first", run: (*apiCLI).jobList},
		{name: "show", summary: "show a job's progress and, with --results, its per-device results", run: (*apiCLI).jobShow},
		{name: "cancel", summary: "cancel a pending or running job", run: (*apiCLI).jobCancel},
	}
}

// jobOperations are the operations a job can run.
var jobOperations = []string{"get", "set", "add", "delete", "operate", "instances", "supported-protocol"}

// jobStates are the states of a job; the last three are final.
var jobStates = []string{"pending", "running", "completed", "failed", "canceled"}

// jobView is what the tables show of the API's Job object.
type jobView struct {
	ID   string `json:"id"`
	Spec struct {
		Name      string `json:"name"`
		Operation string `json:"operation"`
	} `json:"spec"`
	State           string         `json:"state"`
	CancelRequested bool           `json:"cancel_requested"`
	CreatedBy       string         `json:"created_by"`
	Error           string         `json:"error"`
	Created         time.Time      `json:"created"`
	Started         time.Time      `json:"started"`
	Finished        time.Time      `json:"finished"`
	Total           int            `json:"total"`
	Done            int            `json:"done"`
	Succeeded       int            `json:"succeeded"`
	Failed          int            `json:"failed"`
	NotReached      int            `json:"not_reached"`
	Counts          map[string]int `json:"counts"`
	Runner          string         `json:"runner"`
}

func (j jobView) final() bool {
	return j.State == "completed" || j.State == "failed" || j.State == "canceled"
}

func (j jobView) progress() string {
	return fmt.Sprintf("%s, %d/%d done: %d ok, %d failed, %d not reached", j.State, j.Done, j.Total, j.Succeeded, j.Failed, j.NotReached)
}

// outcome is the exit status of a finished job: success only when every
// device succeeded.
func (j jobView) outcome() error {
	switch {
	case j.State == "completed" && j.Succeeded == j.Total:
		return nil
	case j.State == "completed":
		return &partialError{fmt.Sprintf("job %s completed, but %d of %d devices failed or were not reached; see `cuttle job show %s --results`",
			j.ID, j.Total-j.Succeeded, j.Total, j.ID)}
	case j.Error != "":
		return &partialError{fmt.Sprintf("job %s %s: %s", j.ID, j.State, j.Error)}
	}
	return &partialError{fmt.Sprintf("job %s %s (%s); see `cuttle job show %s --results`", j.ID, j.State, j.progress(), j.ID)}
}

func (c *apiCLI) jobCreate(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("job create", "[REQUEST...]",
		`Create a job: one USP operation sent to every device chosen, --concurrency at a time. The request is written as for `+"`cuttle device`"+`:
  get PATH... [--max-depth N]               set PATH=VALUE... [--allow-partial] [--required]
  add OBJPATH [PARAM=VALUE...] [--required]  delete OBJPATH... [--allow-partial]
  operate COMMAND [ARG=VALUE...] [--key K]   instances PATH... [--first-level]
  supported-protocol
Paths may also be given with --paths. --selector terms status=, model=, manufacturer=, software_version= and q= choose by inventory field; other terms are label terms (site=north,tier!=gold).
With --wait, progress goes to stderr until the job ends; the exit status is 0 only when every device succeeded.`,
		fmtTable, fmtJSON, fmtYAML, fmtID)
	op := fs.String("op", "", "operation: "+strings.Join(jobOperations, ", ")+" (required)")
	name := fs.String("name", "", "a name for people")
	var devices, paths listFlag
	fs.Var(&devices, "devices", "endpoint IDs; repeat or separate with commas")
	selector := fs.String("selector", "", "choose devices from the inventory, e.g. 'status=online,site=north'")
	allDevices := fs.Bool("all-devices", false, "choose every device in the inventory")
	fs.Var(&paths, "paths", "paths of get, delete and instances; repeat or separate with commas")
	concurrency := fs.Int("concurrency", 0, "devices worked on at once (default 50, at most 1000)")
	timeout := fs.Duration("timeout", 0, "bound on each device's request (default 30s)")
	onlineOnly := fs.Bool("online-only", false, "skip devices that are offline when their turn comes")
	maxDepth := fs.Int("max-depth", 0, "get: how deep below object paths to read (0: all the way)")
	partial := fs.Bool("allow-partial", false, "set, delete: apply what succeeds even when some paths fail")
	required := fs.Bool("required", false, "set, add: every parameter is required")
	key := fs.String("key", "", "operate: command key")
	first := fs.Bool("first-level", false, "instances: only the tables directly under each path")
	wait := fs.Bool("wait", false, "follow the job's progress until it ends")
	out := fs.out
	pos, err := c.parseOutput(fs, args, 0, -1)
	if err != nil {
		return helpOK(err)
	}
	spec := map[string]any{"operation": *op}
	request, err := jobRequest(*op, paths, pos, jobRequestFlags{*maxDepth, *partial, *required, *key, *first})
	if err != nil {
		return usageError(fs.FlagSet, "%v", err)
	}
	spec["request"] = request
	chosen := 0
	if len(devices) > 0 {
		spec["devices"], chosen = []string(devices), chosen+1
	}
	if *selector != "" {
		sel, err := parseSelector(*selector)
		if err != nil {
			return usageError(fs.FlagSet, "--selector: %v", err)
		}
		spec["selector"], chosen = sel, chosen+1
	}
	if *allDevices {
		spec["selector"], chosen = map[string]string{}, chosen+1
	}
	if chosen != 1 {
		return usageError(fs.FlagSet, "choose the devices with one of --devices, --selector and --all-devices")
	}
	if *name != "" {
		spec["name"] = *name
	}
	if *concurrency != 0 {
		spec["concurrency"] = *concurrency
	}
	if *timeout != 0 {
		spec["timeout"] = timeout.String()
	}
	if *onlineOnly {
		spec["online_only"] = true
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var j jobView
	raw, err := api.doJSON(ctx, http.MethodPost, "/api/v1/jobs", nil, spec, &j)
	if err != nil {
		return err
	}
	if !*wait {
		return c.printJob(*out, raw, j)
	}
	if *out == fmtTable {
		fmt.Fprintf(c.stderr, "Created job %s: %s on %d devices.\n", j.ID, j.Spec.Operation, j.Total)
	}
	j, raw, err = c.awaitJob(ctx, api, j, *out == fmtTable)
	if err != nil {
		return err
	}
	if err := c.printJob(*out, raw, j); err != nil {
		return err
	}
	return j.outcome()
}

// awaitJob follows a job's progress stream until it ends, printing the
// progress on stderr when asked; it returns the final job and its JSON. A
// broken stream is opened again; an interrupt stops the waiting, not the
// job.
func (c *apiCLI) awaitJob(ctx context.Context, api *apiClient, j jobView, progress bool) (jobView, []byte, error) {
	var raw []byte
	last := ""
	for !j.final() {
		body, err := api.stream(ctx, "/api/v1/jobs/"+escapeID(j.ID)+"/events", nil)
		var apiErr *apiError
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return j, nil, err
		}
		if err == nil {
			err = readSSE(body, func(ev sseEvent) error {
				var next jobView
				if err := json.Unmarshal([]byte(ev.data), &next); err != nil {
					return fmt.Errorf("job progress: %w", err)
				}
				j, raw = next, []byte(ev.data)
				if p := j.progress(); progress && p != last {
					fmt.Fprintf(c.stderr, "job %s: %s\n", j.ID, p)
					last = p
				}
				return nil
			})
			body.Close()
		}
		if ctx.Err() != nil {
			return j, nil, fmt.Errorf("stopped waiting; job %s keeps running (see `cuttle job show %s`)", j.ID, j.ID)
		}
		if !j.final() {
			if err != nil {
				c.warn("job progress stream interrupted (%v); reconnecting", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	if raw == nil { // final at creation: nothing was streamed
		var err error
		if raw, err = api.doJSON(ctx, http.MethodGet, "/api/v1/jobs/"+escapeID(j.ID), nil, nil, &j); err != nil {
			return j, nil, err
		}
	}
	return j, raw, nil
}

// printJob prints a job: a one-line summary (table), its ID, or its JSON.
func (c *apiCLI) printJob(format string, raw []byte, j jobView) error {
	switch format {
	case fmtID:
		_, err := fmt.Fprintln(c.stdout, j.ID)
		return err
	case fmtJSON, fmtYAML:
		return printDoc(c.stdout, format, raw)
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "ID\tOPERATION\tSTATE\tDEVICES\tOK\tFAILED\tNOT REACHED")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", j.ID, j.Spec.Operation, j.State, j.Total, j.Succeeded, j.Failed, j.NotReached)
	return tw.Flush()
}

func (c *apiCLI) jobList(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("job ls", "", "List jobs, newest first; -o json prints a JSON array of the API's job objects.",
		fmtTable, fmtJSON, fmtYAML, fmtID)
	state := fs.String("state", "", "only jobs in this state: "+strings.Join(jobStates, ", "))
	op := fs.String("op", "", "only jobs of this operation")
	limit := fs.Int("limit", 50, "show at most this many jobs")
	all := fs.Bool("all", false, "show every job")
	if _, err := c.parseOutput(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	if *limit < 1 && !*all {
		return usageError(fs.FlagSet, "--limit must be at least 1")
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *op != "" {
		q.Set("operation", *op)
	}
	jobs, err := c.fetchPages(ctx, api, "/api/v1/jobs", q, "jobs", *limit, *all)
	if err != nil {
		return err
	}
	now := time.Now()
	err = printList(c, *fs.out, jobs.items, "ID\tNAME\tOPERATION\tSTATE\tDONE\tOK\tFAILED\tNOT REACHED\tCREATED",
		func(j jobView) string { return j.ID },
		func(j jobView) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%s", j.ID, cell(j.Spec.Name), j.Spec.Operation, j.State,
				j.Done, j.Total, j.Succeeded, j.Failed, j.NotReached, ago(j.Created, now))
		})
	if err != nil {
		return err
	}
	if jobs.more && *fs.out == fmtTable {
		fmt.Fprintf(c.stderr, "Showing the newest %d jobs; --all shows every one.\n", len(jobs.items))
	}
	return nil
}

// jobResultView is what the tables show of the API's JobResult object.
type jobResultView struct {
	EndpointID string `json:"endpoint_id"`
	Status     string `json:"status"`
	Error      *struct {
		Code    uint32 `json:"code"`
		Name    string `json:"name"`
		Message string `json:"message"`
		Path    string `json:"path"`
	} `json:"error"`
	Truncated bool      `json:"truncated"`
	Finished  time.Time `json:"finished"`
}

func (c *apiCLI) jobShow(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("job show", "ID", "Show a job and its progress; with --results, its per-device results in the order they were recorded (-o json: {\"job\": …, \"results\": […]}).",
		fmtTable, fmtJSON, fmtYAML)
	results := fs.Bool("results", false, "also list the per-device results")
	var statuses listFlag
	fs.Var(&statuses, "status", "with --results: only results with these statuses (ok, usp_error, bad_response, timeout, unreachable, canceled, skipped, error)")
	limit := fs.Int("limit", 100, "with --results: show at most this many results")
	all := fs.Bool("all", false, "with --results: show every result")
	pos, err := c.parseOutput(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if !*results && (len(statuses) > 0 || *all) {
		return usageError(fs.FlagSet, "--status and --all go with --results")
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var j jobView
	raw, err := api.doJSON(ctx, http.MethodGet, "/api/v1/jobs/"+escapeID(pos[0]), nil, nil, &j)
	if err != nil {
		return err
	}
	var list pagedList
	if *results {
		q := url.Values{}
		for _, s := range statuses {
			q.Add("status", s)
		}
		if list, err = c.fetchPages(ctx, api, "/api/v1/jobs/"+escapeID(pos[0])+"/results", q, "results", *limit, *all); err != nil {
			return err
		}
	}
	if *fs.out != fmtTable {
		if *results {
			raw = fmt.Appendf(nil, `{"job":%s,"results":%s}`, raw, jsonArray(list.items))
		}
		return printDoc(c.stdout, *fs.out, raw)
	}
	tw := newTable(c.stdout)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, cell(v)) }
	row("ID", j.ID)
	row("Name", j.Spec.Name)
	row("Operation", j.Spec.Operation)
	row("State", j.State)
	if j.CancelRequested && !j.final() {
		row("Cancel", "requested")
	}
	if j.Error != "" {
		row("Error", j.Error)
	}
	row("Progress", fmt.Sprintf("%d/%d done: %d ok, %d failed, %d not reached", j.Done, j.Total, j.Succeeded, j.Failed, j.NotReached))
	if len(j.Counts) > 0 {
		counts := map[string]string{}
		for k, v := range j.Counts {
			counts[k] = strconv.Itoa(v)
		}
		row("By status", joinKV(counts, ", "))
	}
	row("Created", fmt.Sprintf("%s by %s", timestamp(j.Created), dash(j.CreatedBy)))
	row("Started", timestamp(j.Started))
	row("Finished", timestamp(j.Finished))
	row("Runner", j.Runner)
	if err := tw.Flush(); err != nil {
		return err
	}
	if !*results {
		return nil
	}
	fmt.Fprintln(c.stdout)
	tw = newTable(c.stdout)
	fmt.Fprintln(tw, "DEVICE\tSTATUS\tERROR\tFINISHED")
	for _, r := range list.items {
		var res jobResultView
		if err := json.Unmarshal(r, &res); err != nil {
			return err
		}
		msg := ""
		if e := res.Error; e != nil {
			msg = uspError{Code: e.Code, Name: e.Name, Message: e.Message}.String()
			if e.Code == 0 {
				msg = e.Message
			}
			if e.Path != "" {
				msg = e.Path + ": " + msg
			}
		}
		if res.Truncated {
			msg = strings.TrimSpace(msg + " (response too large to keep)")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(res.EndpointID), res.Status, cell(msg), timestamp(res.Finished))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if list.more {
		fmt.Fprintf(c.stderr, "Showing the first %d results; --all shows every one.\n", len(list.items))
	}
	return nil
}

func (c *apiCLI) jobCancel(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("job cancel", "ID", "Cancel a pending or running job: requests in flight are abandoned and devices without a result are recorded as canceled.",
		fmtTable, fmtJSON, fmtYAML)
	pos, err := c.parseOutput(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	var j jobView
	raw, err := api.doJSON(ctx, http.MethodPost, "/api/v1/jobs/"+escapeID(pos[0])+"/cancel", nil, nil, &j)
	if err != nil {
		return err
	}
	if *fs.out != fmtTable {
		return printDoc(c.stdout, *fs.out, raw)
	}
	if j.final() {
		fmt.Fprintf(c.stdout, "job %s %s (%s)\n", j.ID, j.State, j.progress())
	} else {
		fmt.Fprintf(c.stdout, "job %s: cancel requested; it is ending (%s)\n", j.ID, j.progress())
	}
	return nil
}
