package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Add creates object instances in multi-instance tables (R-ADD).
type Add struct {
	// AllowPartial: false makes any failure fail the whole message.
	AllowPartial bool
	Objects      []AddObject
}

// AddObject names a table (e.g. "Device.LocalAgent.Subscription.") and the
// parameters of the instance to create in it.
type AddObject struct {
	Path   string
	Params []Param
}

// NewAdd returns an Add of objs.
func NewAdd(allowPartial bool, objs ...AddObject) *Add {
	return &Add{AllowPartial: allowPartial, Objects: objs}
}

// MsgType implements Body.
func (*Add) MsgType() MsgType { return uspmsg.Header_ADD }

func (a *Add) encode() *uspmsg.Body {
	out := &uspmsg.Add{AllowPartial: a.AllowPartial}
	for _, o := range a.Objects {
		co := &uspmsg.Add_CreateObject{ObjPath: o.Path}
		for _, p := range o.Params {
			co.ParamSettings = append(co.ParamSettings, &uspmsg.Add_CreateParamSetting{Param: p.Name, Value: p.Value, Required: p.Required})
		}
		out.CreateObjs = append(out.CreateObjs, co)
	}
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Add{Add: out}})
}

func decodeAdd(a *uspmsg.Add) *Add {
	out := &Add{AllowPartial: a.GetAllowPartial()}
	for _, o := range a.GetCreateObjs() {
		ao := AddObject{Path: o.GetObjPath()}
		for _, p := range o.GetParamSettings() {
			ao.Params = append(ao.Params, Param{Name: p.GetParam(), Value: p.GetValue(), Required: p.GetRequired()})
		}
		out.Objects = append(out.Objects, ao)
	}
	return out
}

// AddResp answers an Add: one result per requested object.
type AddResp struct {
	Results []AddResult
}

// AddResult is the outcome for one requested object.
type AddResult struct {
	RequestedPath string
	// Err is set when the instance could not be created.
	Err *usperr.Error
	// InstantiatedPath is the new instance, e.g. "Device.LocalAgent.Subscription.3.".
	InstantiatedPath string
	// ParamErrs are the non-required parameters that could not be set.
	ParamErrs []*usperr.Error
	// UniqueKeys are the new instance's unique keys, including those the
	// agent assigned (R-ADD.5).
	UniqueKeys map[string]string
}

// MsgType implements Body.
func (*AddResp) MsgType() MsgType { return uspmsg.Header_ADD_RESP }

func (a *AddResp) encode() *uspmsg.Body {
	out := &uspmsg.AddResp{}
	for _, r := range a.Results {
		st := &uspmsg.AddResp_CreatedObjectResult_OperationStatus{}
		if r.Err != nil {
			code, msg := errToWire(r.Err)
			st.OperStatus = &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperationFailure{ErrCode: code, ErrMsg: msg},
			}
		} else {
			ok := &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperationSuccess{
				InstantiatedPath: r.InstantiatedPath, UniqueKeys: r.UniqueKeys,
			}
			for _, e := range r.ParamErrs {
				code, msg := errToWire(e)
				ok.ParamErrs = append(ok.ParamErrs, &uspmsg.AddResp_ParameterError{Param: e.Path, ErrCode: code, ErrMsg: msg})
			}
			st.OperStatus = &uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperSuccess{OperSuccess: ok}
		}
		out.CreatedObjResults = append(out.CreatedObjResults, &uspmsg.AddResp_CreatedObjectResult{RequestedPath: r.RequestedPath, OperStatus: st})
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_AddResp{AddResp: out}})
}

func decodeAddResp(a *uspmsg.AddResp) *AddResp {
	out := &AddResp{}
	for _, r := range a.GetCreatedObjResults() {
		res := AddResult{RequestedPath: r.GetRequestedPath()}
		switch st := r.GetOperStatus().GetOperStatus().(type) {
		case *uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperFailure:
			res.Err = failure(st.OperFailure.GetErrCode(), st.OperFailure.GetErrMsg(), res.RequestedPath)
		case *uspmsg.AddResp_CreatedObjectResult_OperationStatus_OperSuccess:
			res.InstantiatedPath = st.OperSuccess.GetInstantiatedPath()
			res.UniqueKeys = nilIfEmpty(st.OperSuccess.GetUniqueKeys())
			for _, e := range st.OperSuccess.GetParamErrs() {
				res.ParamErrs = append(res.ParamErrs, failure(e.GetErrCode(), e.GetErrMsg(), e.GetParam()))
			}
		default:
			res.Err = missingStatus(res.RequestedPath)
		}
		out.Results = append(out.Results, res)
	}
	return out
}

// Err returns the failed objects joined into one error, or nil.
func (a *AddResp) Err() error {
	var errs []*usperr.Error
	for _, r := range a.Results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return joinErrs(errs)
}
