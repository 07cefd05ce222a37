package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// awaitCompletions waits, up to timeout, for the OperationComplete of
// each asynchronous command (status started) in a device's answer out,
// and completes the device's result: ok when every command completed,
// usp_error when one failed, timeout when one is still pending. It
// returns false when the runner stopped meanwhile for another reason than
// a cancel: the next runner redoes the device.
func (r *runner) awaitCompletions(res Result, out operateResponse, timeout time.Duration) (Result, bool) {
	out.Results = slices.Clone(out.Results)
	ctx, cancel := context.WithTimeout(r.ops, timeout)
	defer cancel()
	pending := 0
	for i := range out.Results {
		or := &out.Results[i]
		if or.Status != opStarted {
			continue
		}
		or.Status = opPending
		c, err := r.comps.Wait(ctx, res.EndpointID, or.Command)
		if err != nil {
			pending++
			continue
		}
		or.Complete(c)
	}
	res.Finished = r.m.now().UTC()
	if pending > 0 && r.ops.Err() != nil {
		if context.Cause(r.dispatch) != errCanceled {
			return res, false
		}
		res.Status, res.Error = StatusCanceled, &ErrorInfo{Message: "the job was canceled before the command completed"}
	}
	b, err := json.Marshal(out)
	if err != nil {
		res.Status, res.Error = StatusError, &ErrorInfo{Message: err.Error()}
		return res, true
	}
	res.Response, res.Truncated = b, false
	if len(b) > r.m.cfg.MaxResultBytes {
		res.Response, res.Truncated = nil, true
	}
	if res.Status == StatusCanceled {
		return res, true
	}
	for _, or := range out.Results {
		if or.Status == opFailed && or.Error != nil {
			res.Status = StatusUSPError
			res.Error = &ErrorInfo{Code: or.Error.Code, Name: or.Error.Name, Message: or.Error.Message, Path: or.Command}
			return res, true
		}
	}
	if pending > 0 {
		res.Status = StatusTimeout
		res.Error = &ErrorInfo{Message: fmt.Sprintf("%d command(s) did not complete within %s", pending, r.compTimeout)}
	}
	return res, true
}
