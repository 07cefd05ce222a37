package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cuttle/controller/uspjson"
	"cuttle/devices/inventory"
	"cuttle/usp"
)

// Sentinel errors. Operations wrap them; test with errors.Is.
var (
	// ErrInvalid: a Spec or a query breaks a rule. The error is often a
	// *ValidationError naming the fields at fault.
	ErrInvalid = errors.New("invalid job")
	// ErrNotFound: no job has that ID.
	ErrNotFound = errors.New("job not found")
	// ErrFinished: the job has already ended, so it cannot be canceled.
	ErrFinished = errors.New("job already finished")
	// ErrClosed: the Manager's Run has returned.
	ErrClosed = errors.New("jobs: manager stopped")
)

// Operations a job can run.
const (
	OpGet               = "get"
	OpSet               = "set"
	OpAdd               = "add"
	OpDelete            = "delete"
	OpOperate           = "operate"
	OpInstances         = "instances"
	OpSupportedProtocol = "supported-protocol"
)

// Operations lists the operations, in the order the API documents them.
var Operations = []string{OpGet, OpSet, OpAdd, OpDelete, OpOperate, OpInstances, OpSupportedProtocol}

// Limits and defaults of a Spec.
const (
	DefaultConcurrency = 50
	MaxConcurrency     = 1000
	DefaultTimeout     = 30 * time.Second
	MaxTimeout         = 10 * time.Minute
	maxNameLen         = 200
	maxEndpointIDLen   = 256
)

// Spec says what a job does and to which devices.
type Spec struct {
	// Name is a label for people; it need not be unique.
	Name string `json:"name,omitempty"`
	// Operation is one of Operations.
	Operation string `json:"operation"`
	// Request is the operation's body, as the per-device API takes it: see
	// uspjson's GetRequest, SetRequest, AddRequest, DeleteRequest,
	// InstancesRequest and SupportedProtocolRequest, and OperateRequest.
	Request json.RawMessage `json:"request,omitempty"`
	// Devices lists endpoint IDs; Selector chooses devices from the
	// inventory instead. Exactly one of them is given. A stored job keeps
	// its devices apart (see Manager.Devices), so Job.Spec.Devices is
	// always empty.
	Devices  []string  `json:"devices,omitempty"`
	Selector *Selector `json:"selector,omitempty"`
	// Concurrency is how many devices are worked on at once: default 50,
	// at most 1000.
	Concurrency int `json:"concurrency,omitempty"`
	// Timeout bounds each device's request: default 30 s. The
	// controller's own request timeout (mqttmtp.Config.Timeout) still
	// applies, so a longer one is cut to it.
	Timeout Duration `json:"timeout,omitempty"`
	// OnlineOnly skips the devices the inventory shows offline when their
	// turn comes (status "skipped"), rather than waiting for their timeout.
	OnlineOnly bool `json:"online_only,omitempty"`
}

// Selector chooses devices from the inventory, as the device listing's
// filters do. Every filter given must hold; an empty Selector chooses every
// device.
type Selector struct {
	// Status is "online" or "offline".
	Status          string `json:"status,omitempty"`
	Model           string `json:"model,omitempty"`
	Manufacturer    string `json:"manufacturer,omitempty"`
	SoftwareVersion string `json:"software_version,omitempty"`
	// Labels is a label selector such as "site=north,tier!=gold".
	Labels string `json:"labels,omitempty"`
	// Q matches a case-insensitive substring of the endpoint ID, serial
	// number, model, manufacturer, software version or a label value.
	Q string `json:"q,omitempty"`
}

func (s *Selector) query() inventory.Query {
	return inventory.Query{
		Status: s.Status, Model: s.Model, Manufacturer: s.Manufacturer, SoftwareVersion: s.SoftwareVersion,
		Labels: s.Labels, Text: s.Q, Limit: inventory.MaxLimit,
	}
}

// FieldError is one field-level validation failure, as the API reports
// them. Field names the field as the client wrote it: "operation",
// "request.paths[1]", "selector.labels".
type FieldError = uspjson.FieldError

// ValidationError lists the fields of a Spec or a query that are at
// fault. It matches ErrInvalid.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid job")
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// fields collects field errors as validation goes.
type fields struct{ errs []FieldError }

func (f *fields) add(field, format string, args ...any) {
	f.errs = append(f.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f *fields) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: f.errs}
}

// prepare checks s, fills in its defaults and builds its USP request. It
// does not look at the devices beyond their syntax; Create resolves them.
func (s *Spec) prepare() (usp.Body, error) {
	var f fields
	if len(s.Name) > maxNameLen {
		f.add("name", "at most %d bytes", maxNameLen)
	}
	body, err := s.body()
	if err != nil {
		f.errs = append(f.errs, fieldErrors(err)...)
	} else if len(s.Request) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, s.Request) == nil { // valid JSON, since it decoded
			s.Request = b.Bytes()
		}
	}
	switch {
	case len(s.Devices) > 0 && s.Selector != nil:
		f.add("devices", "give either devices or selector, not both")
	case len(s.Devices) == 0 && s.Selector == nil:
		f.add("devices", "give the devices, or a selector (an empty one chooses every device)")
	}
	for i, eid := range s.Devices {
		if msg := checkEndpointID(eid); msg != "" {
			f.add(fmt.Sprintf("devices[%d]", i), "%s", msg)
		}
	}
	if s.Selector != nil {
		if _, err := inventory.ParseSelector(s.Selector.Labels); err != nil {
			f.add("selector.labels", "%s", inventoryReason(err))
		}
		switch s.Selector.Status {
		case "", inventory.StatusOnline, inventory.StatusOffline:
		default:
			f.add("selector.status", "must be %q or %q", inventory.StatusOnline, inventory.StatusOffline)
		}
	}
	switch {
	case s.Concurrency == 0:
		s.Concurrency = DefaultConcurrency
	case s.Concurrency < 0 || s.Concurrency > MaxConcurrency:
		f.add("concurrency", "must be between 1 and %d", MaxConcurrency)
	}
	switch {
	case s.Timeout == 0:
		s.Timeout = Duration(DefaultTimeout)
	case s.Timeout < Duration(time.Millisecond) || s.Timeout > Duration(MaxTimeout):
		f.add("timeout", "must be between 1ms and %s", MaxTimeout)
	}
	return body, f.err()
}

// setCommandKey gives an operate request without a command key this one,
// by which the job matches the commands' completions.
func (s *Spec) setCommandKey(key string) error {
	if s.Operation != OpOperate {
		return nil
	}
	req, err := decodeRequest(s.Operation, s.Request)
	if err != nil {
		return err
	}
	op := req.(*OperateRequest)
	if op.CommandKey != "" {
		return nil
	}
	op.CommandKey = key
	if s.Request, err = json.Marshal(op); err != nil {
		return fmt.Errorf("encoding the operate request: %w", err)
	}
	return nil
}

// body decodes and checks the request and builds it.
func (s *Spec) body() (usp.Body, error) {
	req, err := decodeRequest(s.Operation, s.Request)
	if err != nil {
		return nil, err
	}
	var c uspjson.Checker
	body := req.Build(&c)
	if len(c.Errs) > 0 {
		return nil, &ValidationError{Fields: prefixed("request", c.Errs)}
	}
	return body, nil
}

// checkEndpointID returns why eid cannot be a device's endpoint ID, or "".
// The rules are the MQTT topic's: the ID becomes part of one.
func checkEndpointID(eid string) string {
	switch {
	case eid == "":
		return "an endpoint ID is required"
	case len(eid) > maxEndpointIDLen:
		return fmt.Sprintf("at most %d bytes", maxEndpointIDLen)
	case strings.ContainsAny(eid, "+#/\x00"):
		return "must not contain '+', '#', '/' or NUL"
	}
	return ""
}

// inventoryReason is the reason of an inventory FieldError, without the
// field, which the Selector's JSON names differently.
func inventoryReason(err error) string {
	var fe *inventory.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// fieldErrors returns err's field errors, or one about the request as a
// whole.
func fieldErrors(err error) []FieldError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return []FieldError{{Field: "request", Message: err.Error()}}
}

func prefixed(prefix string, errs []FieldError) []FieldError {
	out := make([]FieldError, len(errs))
	for i, e := range errs {
		e.Field = prefix + "." + e.Field
		out[i] = e
	}
	return out
}

// Duration is a JSON duration: a string such as "30s" or "2m", or a number
// of seconds. It marshals as a string.
type Duration = uspjson.Duration
