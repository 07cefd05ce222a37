package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// `cuttle events`: the device event log, queried or followed.

// eventView is what the tables show of the API's Event object.
type eventView struct {
	ID         uint64            `json:"id"`
	Time       time.Time         `json:"time"`
	EndpointID string            `json:"endpoint_id"`
	Type       string            `json:"type"`
	Path       string            `json:"path"`
	Data       map[string]string `json:"data"`
}

// eventTypes are the types the controller logs, for help and completion;
// the API accepts any well-formed type.
var eventTypes = []string{"value_change", "object_creation", "object_deletion", "event", "operation_complete",
	"boot", "online", "offline", "on_board"}

func (c *apiCLI) events(ctx context.Context, args []string) error {
	fs, cf := c.outputFlagSet("events", "", "Query the device event log (oldest first), or with --follow print new events as they happen, one line each, until interrupted. With --follow and --since, the stored events since then come first. Types: "+strings.Join(eventTypes, ", ")+".",
		fmtTable, fmtJSON, fmtYAML)
	device := fs.String("device", "", "only this device's events")
	var types listFlag
	fs.Var(&types, "type", "only events of this type; repeat or separate with commas")
	since := fs.String("since", "", "only events since then: an RFC 3339 time, or a duration meaning that long ago (15m)")
	limit := fs.Int("limit", 0, "at most this many events (default 100 without --follow, at most 1000; with --follow, stop after this many)")
	follow := fs.Bool("follow", false, "keep printing new events until interrupted (Ctrl-C); one line each, JSON Lines with -o json")
	fromStart := fs.Bool("from-start", false, "with --follow, print every stored event first, then new ones")
	if _, err := c.parseOutput(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	if *limit < 0 {
		return usageError(fs.FlagSet, "--limit must not be negative")
	}
	if *fromStart && (!*follow || *since != "") {
		return usageError(fs.FlagSet, "--from-start goes with --follow and without --since")
	}
	api, err := c.client(cf)
	if err != nil {
		return err
	}
	filter := url.Values{}
	if *device != "" {
		filter.Set("device", *device)
	}
	for _, t := range types {
		filter.Add("type", t)
	}
	if !*follow {
		q := cloneValues(filter)
		if *since != "" {
			q.Set("since", *since)
		}
		if *limit > 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
		var page struct {
			Events []json.RawMessage `json:"events"`
		}
		if _, err := api.doJSON(ctx, http.MethodGet, "/api/v1/events", q, nil, &page); err != nil {
			return err
		}
		return printList(c, *fs.out, page.Events, "ID\tTIME\tDEVICE\tTYPE\tPATH\tDATA", nil, func(e eventView) string {
			return fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%s", e.ID, timestamp(e.Time), cell(e.EndpointID), cell(e.Type), cell(e.Path), cell(joinKV(e.Data, " ")))
		})
	}
	f := &follower{c: c, api: api, filter: filter, format: *fs.out, limit: *limit, fromStart: *fromStart}
	if *since != "" {
		switch err := f.replay(ctx, *since); {
		case errors.Is(err, errLimitReached):
			return nil
		case err != nil:
			return err
		}
	}
	return f.run(ctx)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// follower prints the event stream, reconnecting after the events it has
// seen when the stream breaks.
type follower struct {
	c      *apiCLI
	api    *apiClient
	filter url.Values
	format string
	limit  int
	// after is the ID of the last event printed (or to start after); 0
	// means only new events.
	after   uint64
	printed int
	// fromStart asks the stream to replay every stored event first, until
	// an event is printed (after takes over from there).
	fromStart bool
}

// errLimitReached ends the stream once --limit events are printed.
var errLimitReached = errors.New("limit reached")

// replay prints the stored events since since, page by page, and sets
// after to the last one, where the stream then takes over, so that nothing
// between the two is lost. (The stream's own replay cannot start before
// the first event: after=0 means "only new events".) With no stored
// events, the stream starts after the last event of any device or type.
func (f *follower) replay(ctx context.Context, since string) error {
	q := cloneValues(f.filter)
	q.Set("since", since)
	for {
		q.Set("limit", strconv.Itoa(maxPageSize))
		if f.after > 0 {
			q.Set("after", strconv.FormatUint(f.after, 10))
		}
		var page struct {
			Events []json.RawMessage `json:"events"`
		}
		if _, err := f.api.doJSON(ctx, http.MethodGet, "/api/v1/events", q, nil, &page); err != nil {
			return err
		}
		for _, raw := range page.Events {
			if err := f.print(raw); err != nil {
				return err
			}
		}
		if len(page.Events) < maxPageSize {
			break
		}
	}
	if f.printed > 0 {
		return nil
	}
	var last struct {
		Events []eventView `json:"events"`
	}
	if _, err := f.api.doJSON(ctx, http.MethodGet, "/api/v1/events", url.Values{"order": {"desc"}, "limit": {"1"}}, nil, &last); err != nil {
		return err
	}
	if len(last.Events) > 0 {
		f.after = last.Events[0].ID
	}
	return nil
}

// run follows the stream until ctx ends (success: Ctrl-C is how a follow
// ends), --limit events are printed, or the API refuses the stream.
func (f *follower) run(ctx context.Context) error {
	retry, failures := 3*time.Second, 0
	for {
		q := cloneValues(f.filter)
		switch {
		case f.after > 0:
			q.Set("after", strconv.FormatUint(f.after, 10))
		case f.fromStart:
			q.Set("from", "start")
		}
		body, err := f.api.stream(ctx, "/api/v1/events/stream", q)
		var apiErr *apiError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &apiErr) && apiErr.Status < 500 || err != nil && f.printed == 0 && failures == 0:
			return err // refused, or never there: not worth retrying
		case err == nil:
			err = readSSE(body, func(ev sseEvent) error {
				if ev.retry > 0 {
					retry = ev.retry
				}
				failures = 0
				if ev.data == "" {
					return nil
				}
				return f.print([]byte(ev.data))
			})
			body.Close()
			switch {
			case errors.Is(err, errLimitReached), ctx.Err() != nil:
				return nil
			case err == nil:
				err = errors.New("the server ended it")
			}
		}
		failures++
		wait := min(retry<<min(failures-1, 4), 30*time.Second)
		f.c.warn("event stream interrupted (%v); reconnecting in %s", err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// print prints one event: a line for people, a JSON line or a YAML
// document for scripts.
func (f *follower) print(raw []byte) error {
	var e eventView
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("an event from the API: %w", err)
	}
	switch f.format {
	case fmtJSON:
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return err
		}
		fmt.Fprintln(f.c.stdout, b.String())
	case fmtYAML:
		y, err := jsonToYAML(raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(f.c.stdout, "---\n%s", y)
	default:
		fmt.Fprintln(f.c.stdout, strings.Join([]string{timestamp(e.Time), cell(e.EndpointID), cell(e.Type), cell(e.Path), cell(joinKV(e.Data, " "))}, "  "))
	}
	f.after = max(f.after, e.ID)
	f.printed++
	if f.limit > 0 && f.printed >= f.limit {
		return errLimitReached
	}
	return nil
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event, data string
	retry           time.Duration
}

// maxSSELine bounds a line of an event stream.
const maxSSELine = 1 << 20

// readSSE reads a text/event-stream (the WHATWG "event stream
// interpretation", minus lone-CR line endings) and calls fn for each event
// with data; it returns fn's first error, or the stream's (nil at EOF). A
// partial event at the end is dropped, as the standard says.
func readSSE(r io.Reader, fn func(sseEvent) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev sseEvent
	var data strings.Builder
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxSSELine {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			if len(long) > maxSSELine {
				return fmt.Errorf("event stream: a line longer than %d bytes", maxSSELine)
			}
			line = long
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		if s == "" {
			if data.Len() > 0 {
				ev.data = strings.TrimSuffix(data.String(), "\n")
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev.event, ev.data = "", "" // the ID and retry carry over, as the standard says
			data.Reset()
			continue
		}
		if strings.HasPrefix(s, ":") {
			continue
		}
		field, value, _ := strings.Cut(s, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "event":
			ev.event = value
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.id = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 32); err == nil {
				ev.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}
