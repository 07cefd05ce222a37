package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"cuttle/broker/creds"
	"cuttle/controller/auth"
	"cuttle/controller/events"
	"cuttle/controller/httpapi"
	"cuttle/controller/mqttmtp"
	"cuttle/controller/uspjson"
	"cuttle/devices/inventory"
	"cuttle/usp/usperr"
)

// The problem types of auth's own problems; the others are httpapi's.
const (
	TypeUnauthorized = auth.ProblemUnauthorized
	TypeForbidden    = auth.ProblemForbidden
)

// HandlerFunc is an API handler. It writes a successful response itself
// and returns an error for anything else; the API turns the error into a
// problem response (see Error) and logs its cause, so handlers never write
// error responses themselves.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is an API error that becomes an RFC 9457 problem response. Handlers
// return one (or a domain error the API knows how to map, such as
// inventory.ErrNotFound or a *usperr.Error) instead of writing the response.
// It is httpapi's, which bulk jobs answer with too.
type Error = httpapi.Error

// FieldError is one field-level validation failure: Field names the field
// as the client wrote it ("paths[1]", "objects[0].params.SSID", "limit",
// the name of a query parameter or a header).
type FieldError = uspjson.FieldError

// The problems of mounted routes, as the API's own handlers return them.

// NotFound is a 404 not-found problem.
func NotFound(format string, args ...any) *Error { return httpapi.NotFound(format, args...) }

// Invalid is a 400 invalid-request problem listing the fields at fault.
func Invalid(fields ...FieldError) *Error { return httpapi.Invalid(fields...) }

// BadRequest is a 400 invalid-request problem about the request as a whole.
func BadRequest(format string, args ...any) *Error { return httpapi.BadRequest(format, args...) }

// Conflict is a 409 conflict problem.
func Conflict(format string, args ...any) *Error { return httpapi.Conflict(format, args...) }

// Forbidden is a 403 forbidden problem, for permission checks finer than a
// route's action.
func Forbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypeForbidden, Title: "Forbidden", Detail: fmt.Sprintf(format, args...)}
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
		return httpapi.TooLarge(tooBig)
	case errors.As(err, &field):
		return Invalid(FieldError{Field: field.Field, Message: field.Reason})
	case errors.As(err, &uerr):
		return &Error{Status: http.StatusUnprocessableEntity, Type: httpapi.TypeUSPError, Title: "The device answered with a USP error",
			Detail: uerr.Error(), USP: uerr, Err: err}
	case errors.Is(err, inventory.ErrNotFound), errors.Is(err, creds.ErrNotFound), errors.Is(err, auth.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: httpapi.TypeNotFound, Title: "Not found", Detail: err.Error()}
	case errors.Is(err, creds.ErrExists):
		return &Error{Status: http.StatusConflict, Type: httpapi.TypeConflict, Title: "Conflict", Detail: err.Error()}
	case errors.Is(err, inventory.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: httpapi.TypeConflict, Title: "Conflict",
			Detail: "The device kept changing while it was being updated; try again.", Err: err}
	case errors.Is(err, inventory.ErrInvalid), errors.Is(err, creds.ErrInvalid), errors.Is(err, auth.ErrInvalid), errors.Is(err, events.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Type: httpapi.TypeInvalidRequest, Title: "Invalid request", Detail: err.Error()}
	case errors.Is(err, mqttmtp.ErrTimeout):
		return &Error{Status: http.StatusGatewayTimeout, Type: httpapi.TypeDeviceTimeout, Title: "The device did not answer in time",
			Detail: "No response from the device before the deadline.", Err: err}
	case errors.Is(err, mqttmtp.ErrNotConnected), errors.Is(err, mqttmtp.ErrClosed):
		return &Error{Status: http.StatusServiceUnavailable, Type: httpapi.TypeDeviceUnreachable, Title: "The device cannot be reached",
			Detail: "The controller is not connected to the MQTT broker.", Err: err}
	case errors.Is(err, mqttmtp.ErrUnexpectedResponse):
		return &Error{Status: http.StatusBadGateway, Type: httpapi.TypeBadDeviceResponse, Title: "The device sent an unusable response",
			Detail: "The device answered with a response of the wrong type or one that could not be decoded.", Err: err}
	case errors.Is(err, context.Canceled):
		return httpapi.ClientClosed(err)
	}
	return httpapi.Internal(err)
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
	if e.Status == httpapi.StatusClientClosedRequest {
		level = slog.LevelDebug
	}
	a.log.Log(r.Context(), level, "request failed", "request_id", info.id, "method", r.Method, "path", r.URL.Path,
		"status", e.Status, "type", e.Type, "error", err)
	if info.wroteHeader() {
		return // a stream already under way; the log line is all that can be done
	}
	httpapi.WriteProblem(w, e.Document(r.URL.Path, info.id))
}
