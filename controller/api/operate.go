package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"cuttle/controller/auth"
	"cuttle/controller/events"
	"cuttle/usp"
	"cuttle/usp/path"
)

// Bounds of an Operate's wait for asynchronous commands to complete.
const (
	DefaultOperateWait = 60 * time.Second
	MaxOperateWait     = 10 * time.Minute
)

// Operation statuses, per executed command.
const (
	// OpCompleted: a synchronous command succeeded, or an asynchronous one
	// was waited for and its OperationComplete reported success.
	OpCompleted = "completed"
	// OpFailed: the command failed, at once (cmd_failure) or in its
	// OperationComplete.
	OpFailed = "failed"
	// OpStarted: an asynchronous command started and was not waited for.
	OpStarted = "started"
	// OpPending: an asynchronous command was waited for, but did not
	// complete before the timeout; it may still.
	OpPending = "pending"
)

type operateRequest struct {
	Command    string            `json:"command"`
	CommandKey string            `json:"command_key"`
	InputArgs  map[string]string `json:"input_args"`
	// Wait makes the response wait for asynchronous commands'
	// OperationComplete notifications, up to Timeout (default 60 s).
	Wait    bool     `json:"wait"`
	Timeout Duration `json:"timeout"`
}

type operateResponse struct {
	// CommandKey is the key the command ran with: the request's, or one
	// generated to match completions when waiting without one.
	CommandKey string          `json:"command_key"`
	Results    []operateResult `json:"results"`
}

type operateResult struct {
	Command string `json:"command"`
	Status  string `json:"status"`
	// RequestPath is the Device.LocalAgent.Request.{i}. tracking an
	// asynchronous command.
	RequestPath string `json:"request_path,omitempty"`
	// Output holds the output arguments of a completed command; null
	// until then.
	Output map[string]string `json:"output"`
	Error  *uspError         `json:"error"`
	// Completion is the OperationComplete event that ended an
	// asynchronous command, when waited for.
	Completion *completion `json:"completion,omitempty"`
}

type completion struct {
	EventID uint64    `json:"event_id"`
	Time    time.Time `json:"time"`
}

func (a *API) uspOperate(w http.ResponseWriter, r *http.Request) error {
	var req operateRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.check("command", req.Command, path.Command)
	timeout := time.Duration(req.Timeout)
	switch {
	case timeout == 0:
		timeout = DefaultOperateWait
	case timeout < 0 || timeout > MaxOperateWait:
		c.add("timeout", "must be between 0 and %s", MaxOperateWait)
	case !req.Wait:
		c.add("timeout", "only applies with \"wait\": true")
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	key := req.CommandKey
	if req.Wait && key == "" {
		key = newCommandKey()
	}
	auth.SetAuditSummary(r.Context(), fmt.Sprintf("operate %s (command_key %q) on %s", req.Command, key, d.EndpointID))

	// Follow the device's completions before the command starts, so that
	// none is missed however fast it ends.
	var comps *events.Completions
	if req.Wait {
		ctx, cancel := context.WithCancel(r.Context())
		comps, err = a.events.FollowCompletions(ctx, d.EndpointID, key)
		if err != nil {
			cancel()
			return fmt.Errorf("following OperationComplete events: %w", err)
		}
		defer func() {
			cancel()
			<-comps.Done()
		}()
	}
	resp, err := a.mtp.Operate(r.Context(), d.EndpointID, usp.NewOperate(req.Command, key, true, req.InputArgs))
	if err != nil {
		return err
	}
	out := operateResponse{CommandKey: key, Results: make([]operateResult, 0, len(resp.Results))}
	waiting := 0
	for _, res := range resp.Results {
		or := operateResult{Command: res.Command, RequestPath: res.RequestPath, Error: uspErr(res.Err)}
		switch {
		case res.Err != nil:
			or.Status = OpFailed
		case res.Async():
			or.Status = OpStarted
			if req.Wait {
				or.Status = OpPending
				waiting++
			}
		default:
			or.Status, or.Output = OpCompleted, nonNilMap(res.Output)
		}
		out.Results = append(out.Results, or)
	}
	if waiting > 0 {
		if err := awaitCompletions(r.Context(), comps, d.EndpointID, out.Results, timeout); err != nil {
			return err
		}
	}
	return WriteJSON(w, http.StatusOK, out)
}

// awaitCompletions fills in the pending results from the OperationComplete
// events of their commands, until all have one or the timeout passes. It
// fails only if the client goes away.
func awaitCompletions(ctx context.Context, comps *events.Completions, eid string, results []operateResult, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i := range results {
		res := &results[i]
		if res.Status != OpPending {
			continue
		}
		c, err := comps.Wait(wctx, eid, res.Command)
		if err != nil {
			return ctx.Err() // nil when only the timeout passed: the rest stay pending
		}
		complete(res, c)
	}
	return nil
}

// complete records a command's completion in res.
func complete(res *operateResult, c events.Completion) {
	res.Completion = &completion{EventID: c.Event.ID, Time: c.Event.Time}
	if c.Err != nil {
		res.Status, res.Error = OpFailed, uspErr(c.Err)
		return
	}
	res.Status, res.Output = OpCompleted, c.Output
}

// newCommandKey makes a key that identifies one Operate's completions.
func newCommandKey() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return "cuttle-" + hex.EncodeToString(b[:])
}
