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
	"cuttle/controller/uspjson"
	"cuttle/usp"
	"cuttle/usp/path"
)

// Bounds of an Operate's wait for asynchronous commands to complete.
const (
	DefaultOperateWait = 60 * time.Second
	MaxOperateWait     = 10 * time.Minute
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

func (a *API) uspOperate(w http.ResponseWriter, r *http.Request) error {
	var req operateRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c uspjson.Checker
	c.Path("command", req.Command, path.Command)
	timeout := time.Duration(req.Timeout)
	switch {
	case timeout == 0:
		timeout = DefaultOperateWait
	case timeout < 0 || timeout > MaxOperateWait:
		c.Add("timeout", "must be between 0 and %s", MaxOperateWait)
	case !req.Wait:
		c.Add("timeout", "only applies with \"wait\": true")
	}
	if err := invalidFields(c.Errs); err != nil {
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
	out := uspjson.Operate(key, resp)
	waiting := 0
	for i := range out.Results {
		if req.Wait && out.Results[i].Status == uspjson.OpStarted {
			out.Results[i].Status = uspjson.OpPending
			waiting++
		}
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
func awaitCompletions(ctx context.Context, comps *events.Completions, eid string, results []uspjson.OperateResult, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i := range results {
		res := &results[i]
		if res.Status != uspjson.OpPending {
			continue
		}
		c, err := comps.Wait(wctx, eid, res.Command)
		if err != nil {
			return ctx.Err() // nil when only the timeout passed: the rest stay pending
		}
		res.Complete(c)
	}
	return nil
}

// newCommandKey makes a key that identifies one Operate's completions.
func newCommandKey() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return "cuttle-" + hex.EncodeToString(b[:])
}
