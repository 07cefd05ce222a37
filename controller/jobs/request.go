package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// maxPaths bounds the paths, objects or parameters of one request, as the
// per-device API does.
const maxPaths = 1000

// Request is the body of a job's operation. Build checks it and returns
// the USP request, or a *ValidationError whose fields are relative to the
// request ("paths[1]").
type Request interface {
	Build() (usp.Body, error)
}

// The request bodies, with the JSON of the per-device API's routes
// (POST /api/v1/devices/{id}/<operation>).
type (
	// GetRequest reads parameters: {"paths": [...], "max_depth": 0}.
	GetRequest struct {
		Paths    []string `json:"paths"`
		MaxDepth uint32   `json:"max_depth,omitempty"`
	}
	// SetRequest changes parameters:
	// {"allow_partial": false, "objects": [{"path", "params", "required"}]}.
	SetRequest struct {
		AllowPartial bool           `json:"allow_partial,omitempty"`
		Objects      []ObjectParams `json:"objects"`
	}
	// AddRequest creates instances, with the same shape as SetRequest;
	// each object's path is a table and params may be empty.
	AddRequest struct {
		AllowPartial bool           `json:"allow_partial,omitempty"`
		Objects      []ObjectParams `json:"objects"`
	}
	// ObjectParams is one object of a Set or Add: its parameters by
	// relative name, and which of them must succeed.
	ObjectParams struct {
		Path     string            `json:"path"`
		Params   map[string]string `json:"params,omitempty"`
		Required []string          `json:"required,omitempty"`
	}
	// DeleteRequest removes instances: {"allow_partial": false, "paths": [...]}.
	DeleteRequest struct {
		AllowPartial bool     `json:"allow_partial,omitempty"`
		Paths        []string `json:"paths"`
	}
	// OperateRequest runs a command:
	// {"command": "Device.Reboot()", "command_key": "...", "input_args": {...},
	// "completion_timeout": "10m"}. A job waits for the OperationComplete
	// of each device's asynchronous commands, up to CompletionTimeout
	// after the device's answer (default DefaultCompletionTimeout), when
	// the Manager has Config.Completions; a CommandKey is then made up
	// when none is given ("cuttle-job-<job ID>"), since completions are
	// matched by it.
	OperateRequest struct {
		Command           string            `json:"command"`
		CommandKey        string            `json:"command_key,omitempty"`
		InputArgs         map[string]string `json:"input_args,omitempty"`
		CompletionTimeout Duration          `json:"completion_timeout,omitempty"`
	}
	// InstancesRequest lists instances: {"paths": [...], "first_level_only": false}.
	InstancesRequest struct {
		Paths          []string `json:"paths"`
		FirstLevelOnly bool     `json:"first_level_only,omitempty"`
	}
	// SupportedProtocolRequest asks which USP versions devices speak; its
	// body is {}.
	SupportedProtocolRequest struct{}
)

// NewRequest returns an empty request of the operation's type, for
// decoding; nil for an unknown operation.
func NewRequest(op string) Request {
	switch op {
	case OpGet:
		return &GetRequest{}
	case OpSet:
		return &SetRequest{}
	case OpAdd:
		return &AddRequest{}
	case OpDelete:
		return &DeleteRequest{}
	case OpOperate:
		return &OperateRequest{}
	case OpInstances:
		return &InstancesRequest{}
	case OpSupportedProtocol:
		return &SupportedProtocolRequest{}
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
		return nil, &ValidationError{Fields: []FieldError{decodeFieldError("request", err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{Fields: []FieldError{{Field: "request", Message: "must be a single JSON object"}}}
	}
	return req, nil
}

// decodeFieldError turns an encoding/json error into a field error under
// prefix.
func decodeFieldError(prefix string, err error) FieldError {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := prefix
		if typ.Field != "" {
			field = prefix + "." + typ.Field
		}
		want := jsonKind(typ.Type.Kind().String())
		if typ.Type == reflect.TypeFor[Duration]() {
			want = `a duration such as "30s" or a number of seconds`
		}
		return FieldError{Field: field, Message: fmt.Sprintf("must be %s, not %s", want, typ.Value)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return FieldError{Field: prefix + "." + strings.Trim(name, `"`), Message: "unknown field"}
	}
	return FieldError{Field: prefix, Message: err.Error()}
}

// jsonKind names a Go kind as a JSON type, for messages.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "float32", "float64":
		return "a number"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	}
	return "a " + k
}

// Build implements Request.
func (r *GetRequest) Build() (usp.Body, error) {
	var c checker
	c.count("paths", len(r.Paths))
	for i, p := range r.Paths {
		c.path(fmt.Sprintf("paths[%d]", i), p, path.Object, path.Parameter)
	}
	return usp.NewGet(r.MaxDepth, r.Paths...), c.err()
}

// Build implements Request.
func (r *SetRequest) Build() (usp.Body, error) {
	var c checker
	c.count("objects", len(r.Objects))
	set := &usp.Set{AllowPartial: r.AllowPartial}
	for i, o := range r.Objects {
		field := fmt.Sprintf("objects[%d]", i)
		c.path(field+".path", o.Path, path.Object)
		c.count(field+".params", len(o.Params))
		set.Objects = append(set.Objects, usp.SetObject{Path: o.Path, Params: c.params(field, o.Params, o.Required)})
	}
	return set, c.err()
}

// Build implements Request.
func (r *AddRequest) Build() (usp.Body, error) {
	var c checker
	c.count("objects", len(r.Objects))
	add := &usp.Add{AllowPartial: r.AllowPartial}
	for i, o := range r.Objects {
		field := fmt.Sprintf("objects[%d]", i)
		c.path(field+".path", o.Path, path.Object)
		if len(o.Params) > maxPaths {
			c.add(field+".params", "at most %d are allowed", maxPaths)
		}
		add.Objects = append(add.Objects, usp.AddObject{Path: o.Path, Params: c.params(field, o.Params, o.Required)})
	}
	return add, c.err()
}

// Build implements Request.
func (r *DeleteRequest) Build() (usp.Body, error) {
	var c checker
	c.count("paths", len(r.Paths))
	for i, p := range r.Paths {
		c.path(fmt.Sprintf("paths[%d]", i), p, path.Object)
	}
	return usp.NewDelete(r.AllowPartial, r.Paths...), c.err()
}

// Build implements Request. The Operate asks for a response: a job
// records every device's outcome.
func (r *OperateRequest) Build() (usp.Body, error) {
	var c checker
	c.path("command", r.Command, path.Command)
	for name := range r.InputArgs {
		if !path.IsRelativeParamName(name) {
			c.add("input_args."+name, "not an argument name (such as URL or TimeWindow.1.Start)")
		}
	}
	if r.CompletionTimeout < 0 || r.CompletionTimeout > Duration(MaxCompletionTimeout) {
		c.add("completion_timeout", "must be between 0 (the default, %s) and %s", DefaultCompletionTimeout, MaxCompletionTimeout)
	}
	return usp.NewOperate(r.Command, r.CommandKey, true, r.InputArgs), c.err()
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

// Build implements Request.
func (r *InstancesRequest) Build() (usp.Body, error) {
	var c checker
	c.count("paths", len(r.Paths))
	for i, p := range r.Paths {
		c.path(fmt.Sprintf("paths[%d]", i), p, path.Object)
	}
	return usp.NewGetInstances(r.FirstLevelOnly, r.Paths...), c.err()
}

// Build implements Request.
func (*SupportedProtocolRequest) Build() (usp.Body, error) {
	return usp.NewGetSupportedProtocol(usp.SupportedVersions...), nil
}

// checker collects the field errors of a request.
type checker struct{ fields }

// path parses p as an instantiated-data-model path of one of the kinds
// allowed, reporting failures with the USP code a device would have
// answered with (7026, as agents do).
func (c *checker) path(field, p string, kinds ...path.Kind) {
	if p == "" {
		c.add(field, "a path is required")
		return
	}
	parsed, err := path.Parse(p)
	if err != nil {
		e := usperr.As(err)
		c.errs = append(c.errs, FieldError{Field: field, Message: e.Msg, USPCode: uint32(e.Code)})
		return
	}
	if !slices.Contains(kinds, parsed.Kind()) {
		want := make([]string, len(kinds))
		for i, k := range kinds {
			want[i] = k.String()
		}
		c.errs = append(c.errs, FieldError{Field: field, USPCode: uint32(usperr.InvalidPath),
			Message: fmt.Sprintf("%s is a %s path; this request takes %s paths", p, parsed.Kind(), strings.Join(want, " or "))})
	}
}

func (c *checker) count(field string, n int) {
	switch {
	case n == 0:
		c.add(field, "at least one is required")
	case n > maxPaths:
		c.add(field, "at most %d are allowed", maxPaths)
	}
}

// params checks parameter names and required flags and returns the
// settings in name order, so that every device gets the same request.
func (c *checker) params(field string, params map[string]string, required []string) []usp.Param {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]usp.Param, 0, len(names))
	for _, n := range names {
		if !path.IsRelativeParamName(n) {
			c.add(field+".params."+n, "not a parameter name relative to the object (such as Enable or Stats.BytesSent)")
		}
		out = append(out, usp.Param{Name: n, Value: params[n], Required: slices.Contains(required, n)})
	}
	for i, n := range required {
		if _, ok := params[n]; !ok {
			c.add(fmt.Sprintf("%s.required[%d]", field, i), "%q is not in params", n)
		}
	}
	return out
}
