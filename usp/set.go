package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Param is one parameter setting of a Set or Add.
type Param struct {
	// Name is relative to the object path, e.g. "Enable" or "Stats.X".
	Name  string
	Value string
	// Required makes a failure of this parameter fail its whole object.
	Required bool
}

// Set changes parameter values (R-SET).
type Set struct {
	// AllowPartial: false makes any failure fail the whole message with an
	// Error; true reports failures per object.
	AllowPartial bool
	Objects      []SetObject
}

// SetObject names an object (path, possibly a search path) and the
// parameters to set on each instance it resolves to.
type SetObject struct {
	Path   string
	Params []Param
}

// NewSet returns a Set of objs.
func NewSet(allowPartial bool, objs ...SetObject) *Set {
	return &Set{AllowPartial: allowPartial, Objects: objs}
}

// MsgType implements Body.
func (*Set) MsgType() MsgType { return uspmsg.Header_SET }

func (s *Set) encode() *uspmsg.Body {
	out := &uspmsg.Set{AllowPartial: s.AllowPartial}
	for _, o := range s.Objects {
		uo := &uspmsg.Set_UpdateObject{ObjPath: o.Path}
		for _, p := range o.Params {
			uo.ParamSettings = append(uo.ParamSettings, &uspmsg.Set_UpdateParamSetting{Param: p.Name, Value: p.Value, Required: p.Required})
		}
		out.UpdateObjs = append(out.UpdateObjs, uo)
	}
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Set{Set: out}})
}

func decodeSet(s *uspmsg.Set) *Set {
	out := &Set{AllowPartial: s.GetAllowPartial()}
	for _, o := range s.GetUpdateObjs() {
		so := SetObject{Path: o.GetObjPath()}
		for _, p := range o.GetParamSettings() {
			so.Params = append(so.Params, Param{Name: p.GetParam(), Value: p.GetValue(), Required: p.GetRequired()})
		}
		out.Objects = append(out.Objects, so)
	}
	return out
}

// SetResp answers a Set: one result per requested object.
type SetResp struct {
	Results []SetResult
}

// SetResult is the outcome for one requested object path. Exactly one of Err
// (oper_failure) and Updated (oper_success) is meaningful.
type SetResult struct {
	RequestedPath string
	// Err is set when the object failed. Failed lists the instances that
	// failed, with their parameter errors.
	Err    *usperr.Error
	Failed []InstanceErrors
	// Updated lists the instances that were updated.
	Updated []UpdatedInstance
}

// InstanceErrors lists the parameter failures of one object instance.
type InstanceErrors struct {
	// Path is the affected object instance path.
	Path string
	// Params are the failures; each error's Path is the parameter name.
	Params []*usperr.Error
}

// UpdatedInstance is one object instance a Set changed.
type UpdatedInstance struct {
	Path string
	// Params maps the parameters that were set to their new values.
	Params map[string]string
	// ParamErrs are the non-required parameters that failed.
	ParamErrs []*usperr.Error
}

// MsgType implements Body.
func (*SetResp) MsgType() MsgType { return uspmsg.Header_SET_RESP }

func (s *SetResp) encode() *uspmsg.Body {
	out := &uspmsg.SetResp{}
	for _, r := range s.Results {
		st := &uspmsg.SetResp_UpdatedObjectResult_OperationStatus{}
		if r.Err != nil {
			f := &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperationFailure{}
			f.ErrCode, f.ErrMsg = errToWire(r.Err)
			for _, inst := range r.Failed {
				f.UpdatedInstFailures = append(f.UpdatedInstFailures, &uspmsg.SetResp_UpdatedInstanceFailure{
					AffectedPath: inst.Path, ParamErrs: setParamErrsToWire(inst.Params),
				})
			}
			st.OperStatus = &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperFailure{OperFailure: f}
		} else {
			ok := &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperationSuccess{}
			for _, inst := range r.Updated {
				ok.UpdatedInstResults = append(ok.UpdatedInstResults, &uspmsg.SetResp_UpdatedInstanceResult{
					AffectedPath: inst.Path, UpdatedParams: inst.Params, ParamErrs: setParamErrsToWire(inst.ParamErrs),
				})
			}
			st.OperStatus = &uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperSuccess{OperSuccess: ok}
		}
		out.UpdatedObjResults = append(out.UpdatedObjResults, &uspmsg.SetResp_UpdatedObjectResult{RequestedPath: r.RequestedPath, OperStatus: st})
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_SetResp{SetResp: out}})
}

func decodeSetResp(s *uspmsg.SetResp) *SetResp {
	out := &SetResp{}
	for _, r := range s.GetUpdatedObjResults() {
		res := SetResult{RequestedPath: r.GetRequestedPath()}
		switch st := r.GetOperStatus().GetOperStatus().(type) {
		case *uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperFailure:
			res.Err = failure(st.OperFailure.GetErrCode(), st.OperFailure.GetErrMsg(), res.RequestedPath)
			for _, inst := range st.OperFailure.GetUpdatedInstFailures() {
				res.Failed = append(res.Failed, InstanceErrors{Path: inst.GetAffectedPath(), Params: setParamErrsFromWire(inst.GetParamErrs())})
			}
		case *uspmsg.SetResp_UpdatedObjectResult_OperationStatus_OperSuccess:
			for _, inst := range st.OperSuccess.GetUpdatedInstResults() {
				res.Updated = append(res.Updated, UpdatedInstance{
					Path: inst.GetAffectedPath(), Params: nilIfEmpty(inst.GetUpdatedParams()), ParamErrs: setParamErrsFromWire(inst.GetParamErrs()),
				})
			}
		default:
			res.Err = missingStatus(res.RequestedPath)
		}
		out.Results = append(out.Results, res)
	}
	return out
}

// Err returns the failed objects joined into one error, or nil.
func (s *SetResp) Err() error {
	var errs []*usperr.Error
	for _, r := range s.Results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return joinErrs(errs)
}

func setParamErrsToWire(errs []*usperr.Error) []*uspmsg.SetResp_ParameterError {
	var out []*uspmsg.SetResp_ParameterError
	for _, e := range errs {
		code, msg := errToWire(e)
		out = append(out, &uspmsg.SetResp_ParameterError{Param: e.Path, ErrCode: code, ErrMsg: msg})
	}
	return out
}

func setParamErrsFromWire(errs []*uspmsg.SetResp_ParameterError) []*usperr.Error {
	var out []*usperr.Error
	for _, e := range errs {
		out = append(out, failure(e.GetErrCode(), e.GetErrMsg(), e.GetParam()))
	}
	return out
}
