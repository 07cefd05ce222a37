package uspjson

import (
	"time"

	"cuttle/controller/events"
	"cuttle/usp"
)

// Statuses of an executed command in an OperateResponse.
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

// OperateResponse is a device's answer to an Operate, completed by the
// OperationComplete events of its asynchronous commands when waited for.
type OperateResponse struct {
	// CommandKey is the key the command ran with: the request's, or one
	// generated to match completions.
	CommandKey string          `json:"command_key"`
	Results    []OperateResult `json:"results"`
}

// OperateResult is one executed command.
type OperateResult struct {
	Command string `json:"command"`
	Status  string `json:"status"`
	// RequestPath is the Device.LocalAgent.Request.{i}. tracking an
	// asynchronous command.
	RequestPath string `json:"request_path,omitempty"`
	// Output holds the output arguments of a completed command; null
	// until then.
	Output map[string]string `json:"output"`
	Error  *Error            `json:"error"`
	// Completion is the OperationComplete event that ended an
	// asynchronous command, when waited for.
	Completion *Completion `json:"completion,omitempty"`
}

// Completion names the OperationComplete event that ended a command.
type Completion struct {
	EventID uint64    `json:"event_id"`
	Time    time.Time `json:"time"`
}

// Operate converts the answer to an Operate sent with key. An asynchronous
// command is OpStarted; a caller that waits for it marks it OpPending and
// records its end with Complete.
func Operate(key string, r *usp.OperateResp) OperateResponse {
	out := OperateResponse{CommandKey: key, Results: make([]OperateResult, 0, len(r.Results))}
	for _, res := range r.Results {
		or := OperateResult{Command: res.Command, RequestPath: res.RequestPath, Error: FromError(res.Err)}
		switch {
		case res.Err != nil:
			or.Status = OpFailed
		case res.Async():
			or.Status = OpStarted
		default:
			or.Status, or.Output = OpCompleted, NonNilMap(res.Output)
		}
		out.Results = append(out.Results, or)
	}
	return out
}

// Complete records in or the completion that ended its command.
func (or *OperateResult) Complete(c events.Completion) {
	or.Completion = &Completion{EventID: c.Event.ID, Time: c.Event.Time}
	if c.Err != nil {
		or.Status, or.Error = OpFailed, FromError(c.Err)
		return
	}
	or.Status, or.Output = OpCompleted, c.Output
}
