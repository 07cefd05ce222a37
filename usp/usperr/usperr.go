// Package usperr defines the USP error codes of TR-369 (7000–7999) and a typed
// error that carries one, so that any layer (path parsing, a device's data
// model, a decoded Error response) can report a USP failure and any caller can
// recover the code with errors.As.
package usperr

import (
	"errors"
	"fmt"
	"strings"
)

// Code is a USP error code (TR-369 §"Error Codes"). Codes travel as fixed32.
type Code uint32

// The message-level error codes (7000–7031).
const (
	MessageFailed           Code = 7000
	MessageNotSupported     Code = 7001
	RequestDenied           Code = 7002
	InternalError           Code = 7003
	InvalidArguments        Code = 7004
	ResourcesExceeded       Code = 7005
	PermissionDenied        Code = 7006
	InvalidConfiguration    Code = 7007
	InvalidPathSyntax       Code = 7008
	ParameterActionFailed   Code = 7009
	UnsupportedParameter    Code = 7010
	InvalidType             Code = 7011
	InvalidValue            Code = 7012
	ParamReadOnly           Code = 7013
	ValueConflict           Code = 7014
	OperationError          Code = 7015
	ObjectDoesNotExist      Code = 7016
	ObjectNotCreated        Code = 7017
	ObjectNotATable         Code = 7018
	ObjectNotCreatable      Code = 7019
	ObjectNotUpdated        Code = 7020
	RequiredParamFailed     Code = 7021
	CommandFailure          Code = 7022
	CommandCanceled         Code = 7023
	DeleteFailure           Code = 7024
	ObjectDuplicateKey      Code = 7025
	InvalidPath             Code = 7026
	InvalidCommandArguments Code = 7027
	RegisterFailure         Code = 7028
	AlreadyInUse            Code = 7029
	DeregisterFailure       Code = 7030
	PathAlreadyRegistered   Code = 7031
)

// The Record-level error codes (7100–7106), used when a USP Record itself is bad
// (R-MTP.5).
const (
	RecordNotParsed           Code = 7100
	SecureSessionRequired     Code = 7101
	SecureSessionNotSupported Code = 7102
	SegmentationNotSupported  Code = 7103
	InvalidRecordValue        Code = 7104
	SessionContextTerminated  Code = 7105
	SessionContextNotAllowed  Code = 7106
)

type codeInfo struct {
	name    string // Go-style identifier, stable, used in logs and JSON
	meaning string // the spec's wording
}

var codes = map[Code]codeInfo{
	MessageFailed:             {"MessageFailed", "Message failed"},
	MessageNotSupported:       {"MessageNotSupported", "Message not supported"},
	RequestDenied:             {"RequestDenied", "Request denied (no reason specified)"},
	InternalError:             {"InternalError", "Internal error"},
	InvalidArguments:          {"InvalidArguments", "Invalid arguments"},
	ResourcesExceeded:         {"ResourcesExceeded", "Resources exceeded"},
	PermissionDenied:          {"PermissionDenied", "Permission denied"},
	InvalidConfiguration:      {"InvalidConfiguration", "Invalid configuration"},
	InvalidPathSyntax:         {"InvalidPathSyntax", "Invalid path syntax"},
	ParameterActionFailed:     {"ParameterActionFailed", "Parameter action failed"},
	UnsupportedParameter:      {"UnsupportedParameter", "Unsupported parameter"},
	InvalidType:               {"InvalidType", "Invalid type"},
	InvalidValue:              {"InvalidValue", "Invalid value"},
	ParamReadOnly:             {"ParamReadOnly", "Attempt to update non-writeable parameter"},
	ValueConflict:             {"ValueConflict", "Value conflict"},
	OperationError:            {"OperationError", "Operation error"},
	ObjectDoesNotExist:        {"ObjectDoesNotExist", "Object does not exist"},
	ObjectNotCreated:          {"ObjectNotCreated", "Object could not be created"},
	ObjectNotATable:           {"ObjectNotATable", "Object is not a table"},
	ObjectNotCreatable:        {"ObjectNotCreatable", "Attempt to create non-creatable object"},
	ObjectNotUpdated:          {"ObjectNotUpdated", "Object could not be updated"},
	RequiredParamFailed:       {"RequiredParamFailed", "Required parameter failed"},
	CommandFailure:            {"CommandFailure", "Command failure"},
	CommandCanceled:           {"CommandCanceled", "Command canceled"},
	DeleteFailure:             {"DeleteFailure", "Delete failure"},
	ObjectDuplicateKey:        {"ObjectDuplicateKey", "Object exists with duplicate key"},
	InvalidPath:               {"InvalidPath", "Invalid path"},
	InvalidCommandArguments:   {"InvalidCommandArguments", "Invalid command arguments"},
	RegisterFailure:           {"RegisterFailure", "Register failure"},
	AlreadyInUse:              {"AlreadyInUse", "Already in use"},
	DeregisterFailure:         {"DeregisterFailure", "Deregister failure"},
	PathAlreadyRegistered:     {"PathAlreadyRegistered", "Path already registered"},
	RecordNotParsed:           {"RecordNotParsed", "Record could not be parsed"},
	SecureSessionRequired:     {"SecureSessionRequired", "Secure session required"},
	SecureSessionNotSupported: {"SecureSessionNotSupported", "Secure session not supported"},
	SegmentationNotSupported:  {"SegmentationNotSupported", "Segmentation and reassembly not supported"},
	InvalidRecordValue:        {"InvalidRecordValue", "Invalid Record value"},
	SessionContextTerminated:  {"SessionContextTerminated", "Session context terminated"},
	SessionContextNotAllowed:  {"SessionContextNotAllowed", "Session context not allowed"},
}

// Known reports whether c is a code the specification defines.
func (c Code) Known() bool {
	_, ok := codes[c]
	return ok
}

// Name returns a stable identifier for c, such as "InvalidPath", or a
// description of its range for codes the specification leaves open.
func (c Code) Name() string {
	if info, ok := codes[c]; ok {
		return info.name
	}
	switch {
	case c >= 7200 && c <= 7299:
		return "DataModelDefined"
	case c >= 7800 && c <= 7999:
		return "VendorDefined"
	default:
		return "Unknown"
	}
}

// Meaning returns the specification's description of c.
func (c Code) Meaning() string {
	if info, ok := codes[c]; ok {
		return info.meaning
	}
	switch {
	case c >= 7200 && c <= 7299:
		return "Data-model-defined error"
	case c >= 7800 && c <= 7999:
		return "Vendor-defined error"
	default:
		return "Unknown error code"
	}
}

// String returns the code with its name, for example "7026 InvalidPath".
func (c Code) String() string { return fmt.Sprintf("%d %s", uint32(c), c.Name()) }

// AllCodes returns every code the specification defines, in ascending order.
func AllCodes() []Code {
	out := make([]Code, 0, len(codes))
	for c := MessageFailed; c <= PathAlreadyRegistered; c++ {
		out = append(out, c)
	}
	for c := RecordNotParsed; c <= SessionContextNotAllowed; c++ {
		out = append(out, c)
	}
	return out
}

// Error is a USP failure: a code, a human-readable message and, where the
// failure concerns one path or one parameter, that path. It is used both for
// whole-message Errors and for the per-path failures inside Set, Add, Delete and
// Operate responses.
type Error struct {
	Code Code
	Msg  string
	// Path is the object, parameter or command path the failure concerns, if any.
	Path string
	// Params holds per-parameter failures (Error.param_errs on the wire, or the
	// param_errs of a Set/Add failure).
	Params []*Error
}

// New returns an Error with the given code and a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// AtPath returns an Error about path.
func AtPath(code Code, path, format string, args ...any) *Error {
	return &Error{Code: code, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Error implements error: "usp 7026 InvalidPath: Device.Foo.: no such object".
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usp %d %s", uint32(e.Code), e.Code.Name())
	if e.Path != "" {
		b.WriteString(": ")
		b.WriteString(e.Path)
	}
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Meaning()
	}
	b.WriteString(": ")
	b.WriteString(msg)
	for _, p := range e.Params {
		b.WriteString("; ")
		b.WriteString(p.Path)
		fmt.Fprintf(&b, " (%d %s", uint32(p.Code), p.Code.Name())
		if p.Msg != "" {
			b.WriteString(": ")
			b.WriteString(p.Msg)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &usperr.Error{Code: usperr.InvalidPath}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Msg == "" && t.Path == ""
}

// CodeOf returns the USP code carried by err, or InternalError when err carries
// none. It returns 0 for a nil err.
func CodeOf(err error) Code {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return InternalError
}

// As returns err as an *Error, wrapping errors that carry no USP code as
// InternalError with err's text, so any error can be sent to a peer.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: InternalError, Msg: err.Error()}
}
