package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"cuttle/broker/creds"
	"cuttle/controller/auth"
	"cuttle/controller/events"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
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
	TypeUnauthorized         = auth.ProblemUnauthorized
	TypeForbidden            = auth.ProblemForbidden
	TypeConflict             = ProblemBase + "conflict"
	TypeMethodNotAllowed     = ProblemBase + "method-not-allowed"
	TypePayloadTooLarge      = ProblemBase + "payload-too-large"
	TypeUnsupportedMediaType = ProblemBase + "unsupported-media-type"
	TypeUnavailable          = ProblemBase + "unavailable"
	TypeInternal             = ProblemBase + "internal"
)

const (
	problemContentType = "application/problem+json"
	// statusClientClosedRequest marks requests whose client went away
	// (nginx's convention); it only reaches the logs and metrics.
	statusClientClosedRequest = 499
)

// HandlerFunc is an API handler. It writes a successful response itself
// and returns an error for anything else; the API turns the error into a
// problem response (see Error) and logs its cause, so handlers never write
// error responses themselves.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is an API error that becomes an RFC 9457 problem response. Handlers
// return one (or a domain error the API knows how to map, such as
// inventory.ErrNotFound or a *usperr.Error) instead of writing the response.
type Error struct {
	Status int
	Type   string
	Title  string
	Detail string
	// Fields are the field-level validation failures of an
	// invalid-request problem.
	Fields []FieldError
	// USP is the USP Error a device answered with (usp-error problems), or
	// the USP code a request would have earned (invalid paths).
	USP *usperr.Error
	// Err is the cause, logged but never shown to the client.
	Err error
}

// FieldError is one field-level validation failure: Field names the field
// as the client wrote it ("paths[1]", "objects[0].params.SSID", "limit",
// the name of a query parameter or a header).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// USPCode is the USP error code the value would have earned from a
	// device, such as 7026 for an invalid path.
	USPCode uint32 `json:"usp_code,omitempty"`
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
func Invalid(fields ...FieldError) *Error {
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

// Forbidden is a 403 forbidden problem, for permission checks finer than a
// route's action.
func Forbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypeForbidden, Title: "Forbidden", Detail: fmt.Sprintf(format, args...)}
}

// problem is the JSON body of a problem response.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance"`
	RequestID string       `json:"request_id"`
	Errors    []FieldError `json:"errors,omitempty"`
	// USP members of usp-error problems, and of invalid-request problems
	// about USP paths.
	USPCode     uint32     `json:"usp_code,omitempty"`
	USPName     string     `json:"usp_name,omitempty"`
	USPMessage  string     `json:"usp_message,omitempty"`
	ParamErrors []uspError `json:"param_errors,omitempty"`
}

// asError maps any error a handler returns to the problem it becomes.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var tooBig *http.MaxBytesError
	var field *inventory.FieldError
	var uerr *usperr.Error
	switch {
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypePayloadTooLarge, Title: "Payload too large",
			Detail: fmt.Sprintf("The request body is larger than %d bytes.", tooBig.Limit), Err: err}
	case errors.As(err, &field):
		return Invalid(FieldError{Field: field.Field, Message: field.Reason})
	case errors.As(err, &uerr):
		return &Error{Status: http.StatusUnprocessableEntity, Type: TypeUSPError, Title: "The device answered with a USP error",
			Detail: uerr.Error(), USP: uerr, Err: err}
	case errors.Is(err, inventory.ErrNotFound), errors.Is(err, creds.ErrNotFound), errors.Is(err, auth.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Title: "Not found", Detail: err.Error()}
	case errors.Is(err, creds.ErrExists):
		return &Error{Status: http.StatusConflict, Type: TypeConflict, Title: "Conflict", Detail: err.Error()}
	case errors.Is(err, inventory.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: TypeConflict, Title: "Conflict",
			Detail: "The device kept changing while it was being updated; try again.", Err: err}
	case errors.Is(err, inventory.ErrInvalid), errors.Is(err, creds.ErrInvalid), errors.Is(err, auth.ErrInvalid), errors.Is(err, events.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Title: "Invalid request", Detail: err.Error()}
	case errors.Is(err, mqttmtp.ErrTimeout):
		return &Error{Status: http.StatusGatewayTimeout, Type: TypeDeviceTimeout, Title: "The device did not answer in time",
			Detail: "No response from the device before the deadline.", Err: err}
	case errors.Is(err, mqttmtp.ErrNotConnected), errors.Is(err, mqttmtp.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeDeviceUnreachable, Title: "The device cannot be reached",
			Detail: "The controller is not connected to the MQTT broker.", Err: err}
	case errors.Is(err, mqttmtp.ErrUnexpectedResponse):
		return &Error{Status: http.StatusBadGateway, Type: TypeBadDeviceResponse, Title: "The device sent an unusable response",
			Detail: "The device answered with a response of the wrong type or one that could not be decoded.", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Status: statusClientClosedRequest, Type: TypeInternal, Title: "Client closed the request", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeInternal, Title: "Internal error",
		Detail: "The server failed to handle the request; its logs say why, under this request_id.", Err: err}
}

// writeError sends err as a problem response and logs its cause: server
// failures as errors, client mistakes at info level.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	info := infoFrom(r.Context())
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	if e.Status == statusClientClosedRequest {
		level = slog.LevelDebug
	}
	a.log.Log(r.Context(), level, "request failed", "request_id", info.id, "method", r.Method, "path", r.URL.Path,
		"status", e.Status, "type", e.Type, "error", err)
	if info.wroteHeader() {
		return // a stream already under way; the log line is all that can be done
	}
	p := problem{Type: e.Type, Title: e.Title, Status: e.Status, Detail: e.Detail, Instance: r.URL.Path,
		RequestID: info.id, Errors: e.Fields}
	if e.USP != nil {
		p.USPCode, p.USPName = uint32(e.USP.Code), e.USP.Code.Name()
		p.USPMessage = uspErr(e.USP).Message
		for _, pe := range e.USP.Params {
			x := uspErr(pe)
			x.Param = pe.Path
			p.ParamErrors = append(p.ParamErrors, *x)
		}
	}
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p problem) {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"` + TypeInternal + `","title":"Internal error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", problemContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}
