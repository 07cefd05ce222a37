package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// ErrorMsg is the body of a USP Error message: the answer to a request that
// failed as a whole. Err.Params holds the per-parameter failures (param_errs),
// each with its Path set.
type ErrorMsg struct {
	Err *usperr.Error
}

// NewErrorMsg returns the Error body for err; errors that carry no USP code
// are sent as InternalError.
func NewErrorMsg(err error) *ErrorMsg { return &ErrorMsg{Err: usperr.As(err)} }

// MsgType implements Body.
func (*ErrorMsg) MsgType() MsgType { return uspmsg.Header_ERROR }

func (e *ErrorMsg) encode() *uspmsg.Body {
	out := &uspmsg.Error{}
	if e.Err != nil {
		out.ErrCode, out.ErrMsg = errToWire(e.Err)
		for _, p := range e.Err.Params {
			code, msg := errToWire(p)
			out.ParamErrs = append(out.ParamErrs, &uspmsg.Error_ParamError{ParamPath: p.Path, ErrCode: code, ErrMsg: msg})
		}
	}
	return &uspmsg.Body{MsgBody: &uspmsg.Body_Error{Error: out}}
}

func decodeErrorMsg(e *uspmsg.Error) *ErrorMsg {
	code := usperr.Code(e.GetErrCode())
	if code == 0 {
		// An Error with no code is still a failure; report it as the general one.
		code = usperr.MessageFailed
	}
	out := &usperr.Error{Code: code, Msg: e.GetErrMsg()}
	for _, p := range e.GetParamErrs() {
		out.Params = append(out.Params, &usperr.Error{Code: usperr.Code(p.GetErrCode()), Msg: p.GetErrMsg(), Path: p.GetParamPath()})
	}
	return &ErrorMsg{Err: out}
}
