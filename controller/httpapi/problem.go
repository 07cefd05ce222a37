// Package httpapi is what the controller's HTTP routes share, the REST
// API's and the bulk jobs': RFC 9457 problem documents for errors, strict
// decoding of JSON request bodies, JSON responses and query parameters,
// so that every route fails and answers alike.
package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"cuttle/controller/uspjson"
	"cuttle/usp/usperr"
)

// Problem types (RFC 9457 "type" members). They are stable: clients may
// compare them. Unauthorized and forbidden are the auth package's.
const (
	ProblemBase              = "https://cuttle.dev/problems/"
	TypeNotFound             = ProblemBase + "not-found"
	TypeInvalidRequest       = ProblemBase + "invalid-request"
	TypeUSPError             = ProblemBase + "usp-error"
	TypeDeviceUnreachable    = ProblemBase + "device-unreachable"
	TypeDeviceTimeout        = ProblemBase + "device-timeout"
	TypeBadDeviceResponse    = ProblemBase + "bad-device-response"
	TypeConflict             = ProblemBase + "conflict"
	TypeMethodNotAllowed     = ProblemBase + "method-not-allowed"
	TypePayloadTooLarge      = ProblemBase + "payload-too-large"
	TypeUnsupportedMediaType = ProblemBase + "unsupported-media-type"
	TypeUnavailable          = ProblemBase + "unavailable"
	TypeInternal             = ProblemBase + "internal"
)

const (
	// ProblemContentType is the media type of problem documents.
	ProblemContentType = "application/problem+json"
	// StatusClientClosedRequest marks requests whose client went away
	// (nginx's convention); it only reaches the logs and metrics.
	StatusClientClosedRequest = 499
)

// Error is an error that becomes a problem response. Handlers return one
// (or a domain error their package maps to one) instead of writing the
// response.
type Error struct {
	Status int
	Type   string
	Title  string
	Detail string
	// Fields are the field-level validation failures of an
	// invalid-request problem.
	Fields []uspjson.FieldError
	// USP is the USP Error a device answered with (usp-error problems), or
	// the USP code a request would have earned (invalid paths).
	USP *usperr.Error
	// Err is the cause, logged but never shown to the client.
	Err error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s", e.Status, e.Title)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	for _, f := range e.Fields {
		msg += fmt.Sprintf("; %s: %s", f.Field, f.Message)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// NotFound is a 404 not-found problem.
func NotFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Title: "Not found", Detail: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 invalid-request problem listing the fields at fault.
func Invalid(fields ...uspjson.FieldError) *Error {
	detail := "The request has invalid fields."
	if len(fields) == 1 {
		detail = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Title: "Invalid request", Detail: detail, Fields: fields}
}

// BadRequest is a 400 invalid-request problem about the request as a whole.
func BadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Title: "Invalid request", Detail: fmt.Sprintf(format, args...)}
}

// Conflict is a 409 conflict problem.
func Conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Type: TypeConflict, Title: "Conflict", Detail: fmt.Sprintf(format, args...)}
}

// TooLarge is the 413 problem of a body over http.MaxBytesReader's limit.
func TooLarge(err *http.MaxBytesError) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypePayloadTooLarge, Title: "Payload too large",
		Detail: fmt.Sprintf("The request body is larger than %d bytes.", err.Limit), Err: err}
}

// Internal is the 500 problem of a failure the client can do nothing
// about; err, the cause, is only logged.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: TypeInternal, Title: "Internal error",
		Detail: "The server failed to handle the request; its logs say why, under this request_id.", Err: err}
}

// ClientClosed is the problem of a request whose client went away; it is
// never sent.
func ClientClosed(err error) *Error {
	return &Error{Status: StatusClientClosedRequest, Type: TypeInternal, Title: "Client closed the request", Err: err}
}

// Document is the JSON body of a problem response.
type Document struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail,omitempty"`
	Instance  string               `json:"instance,omitempty"`
	RequestID string               `json:"request_id,omitempty"`
	Errors    []uspjson.FieldError `json:"errors,omitempty"`
	// USP members of usp-error problems, and of invalid-request problems
	// about USP paths.
	USPCode     uint32          `json:"usp_code,omitempty"`
	USPName     string          `json:"usp_name,omitempty"`
	USPMessage  string          `json:"usp_message,omitempty"`
	ParamErrors []uspjson.Error `json:"param_errors,omitempty"`
}

// Document is e's problem document for the request to path instance with
// the ID requestID.
func (e *Error) Document(instance, requestID string) Document {
	d := Document{Type: e.Type, Title: e.Title, Status: e.Status, Detail: e.Detail, Instance: instance,
		RequestID: requestID, Errors: e.Fields}
	if e.USP != nil {
		d.USPCode, d.USPName = uint32(e.USP.Code), e.USP.Code.Name()
		d.USPMessage = uspjson.FromError(e.USP).Message
		d.ParamErrors = uspjson.ParamErrors(e.USP.Params)
	}
	return d
}

// WriteProblem sends d as a problem response.
func WriteProblem(w http.ResponseWriter, d Document) {
	body, err := json.Marshal(d)
	if err != nil {
		body = []byte(`{"type":"` + TypeInternal + `","title":"Internal error","status":500}`)
		d.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ProblemContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(d.Status)
	_, _ = w.Write(append(body, '\n'))
}
