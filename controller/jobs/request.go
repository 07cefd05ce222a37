package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"cuttle/controller/uspjson"
	"cuttle/usp"
	"cuttle/usp/path"
)

// Request is the body of a job's operation: the per-device API's, for
// POST /api/v1/devices/{id}/<operation>. Build checks it into a Checker,
// whose fields are relative to the request ("paths[1]"), and returns the
// USP request.
type Request = uspjson.Request

// OperateRequest runs a command:
// {"command": "Device.Reboot()", "command_key": "...", "input_args": {...},
// "completion_timeout": "10m"}. A job waits for the OperationComplete of
// each device's asynchronous commands, up to CompletionTimeout after the
// device's answer (default DefaultCompletionTimeout), when the Manager has
// Config.Completions; a CommandKey is then made up when none is given
// ("cuttle-job-<job ID>"), since completions are matched by it.
type OperateRequest struct {
	Command           string            `json:"command"`
	CommandKey        string            `json:"command_key,omitempty"`
	InputArgs         map[string]string `json:"input_args,omitempty"`
	CompletionTimeout Duration          `json:"completion_timeout,omitempty"`
}

// NewRequest returns an empty request of the operation's type, for
// decoding; nil for an unknown operation.
func NewRequest(op string) Request {
	switch op {
	case OpGet:
		return &uspjson.GetRequest{}
	case OpSet:
		return &uspjson.SetRequest{}
	case OpAdd:
		return &uspjson.AddRequest{}
	case OpDelete:
		return &uspjson.DeleteRequest{}
	case OpOperate:
		return &OperateRequest{}
	case OpInstances:
		return &uspjson.InstancesRequest{}
	case OpSupportedProtocol:
		return &uspjson.SupportedProtocolRequest{}
	}
	return nil
}

// decodeRequest decodes raw as op's request, rejecting unknown fields.
func decodeRequest(op string, raw json.RawMessage) (Request, error) {
	req := NewRequest(op)
	if req == nil {
		if op == "" {
			return nil, &ValidationError{Fields: []FieldError{{Field: "operation", Message: "an operation is required (" + strings.Join(Operations, ", ") + ")"}}}
		}
		return nil, &ValidationError{Fields: []FieldError{{Field: "operation", Message: fmt.Sprintf("%q is not one of %s", op, strings.Join(Operations, ", "))}}}
	}
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		f, ok := uspjson.FieldOf(err)
		if !ok {
			f.Message = err.Error()
		}
		f.Field = strings.TrimSuffix("request."+f.Field, ".")
		return nil, &ValidationError{Fields: []FieldError{f}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{Fields: []FieldError{{Field: "request", Message: "must be a single JSON object"}}}
	}
	return req, nil
}

// Build implements Request. The Operate asks for a response: a job
// records every device's outcome.
func (r *OperateRequest) Build(c *uspjson.Checker) usp.Body {
	c.Path("command", r.Command, path.Command)
	for name := range r.InputArgs {
		if !path.IsRelativeParamName(name) {
			c.Add("input_args."+name, "not an argument name (such as URL or TimeWindow.1.Start)")
		}
	}
	if r.CompletionTimeout < 0 || r.CompletionTimeout > Duration(MaxCompletionTimeout) {
		c.Add("completion_timeout", "must be between 0 (the default, %s) and %s", DefaultCompletionTimeout, MaxCompletionTimeout)
	}
	return usp.NewOperate(r.Command, r.CommandKey, true, r.InputArgs)
}

// Bounds of how long an operate job waits for a device's asynchronous
// commands to complete.
const (
	DefaultCompletionTimeout = 10 * time.Minute
	MaxCompletionTimeout     = 24 * time.Hour
)

// completionTimeout is how long to wait for completions.
func (r *OperateRequest) completionTimeout() time.Duration {
	if r.CompletionTimeout == 0 {
		return DefaultCompletionTimeout
	}
	return time.Duration(r.CompletionTimeout)
}
