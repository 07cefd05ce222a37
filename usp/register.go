package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Register is sent by a USP Service to register the data-model paths it
// provides (USP 1.3+).
type Register struct {
	AllowPartial bool
	// Paths are object paths without instance numbers or "{i}".
	Paths []string
}

// MsgType implements Body.
func (*Register) MsgType() MsgType { return uspmsg.Header_REGISTER }

func (r *Register) encode() *uspmsg.Body {
	out := &uspmsg.Register{AllowPartial: r.AllowPartial}
	for _, p := range r.Paths {
		out.RegPaths = append(out.RegPaths, &uspmsg.Register_RegistrationPath{Path: p})
	}
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Register{Register: out}})
}

func decodeRegister(r *uspmsg.Register) *Register {
	out := &Register{AllowPartial: r.GetAllowPartial()}
	for _, p := range r.GetRegPaths() {
		out.Paths = append(out.Paths, p.GetPath())
	}
	return out
}

// RegisterResp answers a Register.
type RegisterResp struct {
	Results []RegisterResult
}

// RegisterResult is the outcome for one requested path.
type RegisterResult struct {
	RequestedPath  string
	Err            *usperr.Error
	RegisteredPath string
}

// MsgType implements Body.
func (*RegisterResp) MsgType() MsgType { return uspmsg.Header_REGISTER_RESP }

func (r *RegisterResp) encode() *uspmsg.Body {
	out := &uspmsg.RegisterResp{}
	for _, res := range r.Results {
		st := &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus{}
		if res.Err != nil {
			code, msg := errToWire(res.Err)
			st.OperStatus = &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperationFailure{ErrCode: code, ErrMsg: msg},
			}
		} else {
			st.OperStatus = &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperSuccess{
				OperSuccess: &uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperationSuccess{RegisteredPath: res.RegisteredPath},
			}
		}
		out.RegisteredPathResults = append(out.RegisteredPathResults, &uspmsg.RegisterResp_RegisteredPathResult{RequestedPath: res.RequestedPath, OperStatus: st})
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_RegisterResp{RegisterResp: out}})
}

func decodeRegisterResp(r *uspmsg.RegisterResp) *RegisterResp {
	out := &RegisterResp{}
	for _, pr := range r.GetRegisteredPathResults() {
		res := RegisterResult{RequestedPath: pr.GetRequestedPath()}
		switch st := pr.GetOperStatus().GetOperStatus().(type) {
		case *uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperFailure:
			res.Err = failure(st.OperFailure.GetErrCode(), st.OperFailure.GetErrMsg(), res.RequestedPath)
		case *uspmsg.RegisterResp_RegisteredPathResult_OperationStatus_OperSuccess:
			res.RegisteredPath = st.OperSuccess.GetRegisteredPath()
		default:
			res.Err = missingStatus(res.RequestedPath)
		}
		out.Results = append(out.Results, res)
	}
	return out
}

// Deregister withdraws registered paths; an empty path withdraws all of the
// sender's registrations.
type Deregister struct {
	Paths []string
}

// MsgType implements Body.
func (*Deregister) MsgType() MsgType { return uspmsg.Header_DEREGISTER }

func (d *Deregister) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Deregister{Deregister: &uspmsg.Deregister{Paths: d.Paths}}})
}

func decodeDeregister(d *uspmsg.Deregister) *Deregister {
	return &Deregister{Paths: d.GetPaths()}
}

// DeregisterResp answers a Deregister.
type DeregisterResp struct {
	Results []DeregisterResult
}

// DeregisterResult is the outcome for one requested path.
type DeregisterResult struct {
	RequestedPath string
	Err           *usperr.Error
	Deregistered  []string
}

// MsgType implements Body.
func (*DeregisterResp) MsgType() MsgType { return uspmsg.Header_DEREGISTER_RESP }

func (d *DeregisterResp) encode() *uspmsg.Body {
	out := &uspmsg.DeregisterResp{}
	for _, res := range d.Results {
		st := &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus{}
		if res.Err != nil {
			code, msg := errToWire(res.Err)
			st.OperStatus = &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperationFailure{ErrCode: code, ErrMsg: msg},
			}
		} else {
			st.OperStatus = &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperSuccess{
				OperSuccess: &uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperationSuccess{DeregisteredPath: res.Deregistered},
			}
		}
		out.DeregisteredPathResults = append(out.DeregisteredPathResults, &uspmsg.DeregisterResp_DeregisteredPathResult{RequestedPath: res.RequestedPath, OperStatus: st})
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_DeregisterResp{DeregisterResp: out}})
}

func decodeDeregisterResp(d *uspmsg.DeregisterResp) *DeregisterResp {
	out := &DeregisterResp{}
	for _, pr := range d.GetDeregisteredPathResults() {
		res := DeregisterResult{RequestedPath: pr.GetRequestedPath()}
		switch st := pr.GetOperStatus().GetOperStatus().(type) {
		case *uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperFailure:
			res.Err = failure(st.OperFailure.GetErrCode(), st.OperFailure.GetErrMsg(), res.RequestedPath)
		case *uspmsg.DeregisterResp_DeregisteredPathResult_OperationStatus_OperSuccess:
			res.Deregistered = st.OperSuccess.GetDeregisteredPath()
		default:
			res.Err = missingStatus(res.RequestedPath)
		}
		out.Results = append(out.Results, res)
	}
	return out
}
