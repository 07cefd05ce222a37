package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Delete removes object instances (R-DEL).
type Delete struct {
	// AllowPartial: false makes any failure fail the whole message.
	AllowPartial bool
	// Paths are object instance paths, possibly search paths.
	Paths []string
}

// NewDelete returns a Delete of paths.
func NewDelete(allowPartial bool, paths ...string) *Delete {
	return &Delete{AllowPartial: allowPartial, Paths: paths}
}

// MsgType implements Body.
func (*Delete) MsgType() MsgType { return uspmsg.Header_DELETE }

func (d *Delete) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Delete{Delete: &uspmsg.Delete{
		AllowPartial: d.AllowPartial, ObjPaths: d.Paths,
	}}})
}

func decodeDelete(d *uspmsg.Delete) *Delete {
	return &Delete{AllowPartial: d.GetAllowPartial(), Paths: d.GetObjPaths()}
}

// DeleteResp answers a Delete: one result per requested path.
type DeleteResp struct {
	Results []DeleteResult
}

// DeleteResult is the outcome for one requested path.
type DeleteResult struct {
	RequestedPath string
	// Err is set when the path failed as a whole.
	Err *usperr.Error
	// Affected lists the instances that were deleted.
	Affected []string
	// Unaffected lists instances the path matched but that could not be
	// deleted; each error's Path is that instance.
	Unaffected []*usperr.Error
}

// MsgType implements Body.
func (*DeleteResp) MsgType() MsgType { return uspmsg.Header_DELETE_RESP }

func (d *DeleteResp) encode() *uspmsg.Body {
	out := &uspmsg.DeleteResp{}
	for _, r := range d.Results {
		st := &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus{}
		if r.Err != nil {
			code, msg := errToWire(r.Err)
			st.OperStatus = &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperFailure{
				OperFailure: &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperationFailure{ErrCode: code, ErrMsg: msg},
			}
		} else {
			ok := &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperationSuccess{AffectedPaths: r.Affected}
			for _, e := range r.Unaffected {
				code, msg := errToWire(e)
				ok.UnaffectedPathErrs = append(ok.UnaffectedPathErrs, &uspmsg.DeleteResp_UnaffectedPathError{UnaffectedPath: e.Path, ErrCode: code, ErrMsg: msg})
			}
			st.OperStatus = &uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperSuccess{OperSuccess: ok}
		}
		out.DeletedObjResults = append(out.DeletedObjResults, &uspmsg.DeleteResp_DeletedObjectResult{RequestedPath: r.RequestedPath, OperStatus: st})
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_DeleteResp{DeleteResp: out}})
}

func decodeDeleteResp(d *uspmsg.DeleteResp) *DeleteResp {
	out := &DeleteResp{}
	for _, r := range d.GetDeletedObjResults() {
		res := DeleteResult{RequestedPath: r.GetRequestedPath()}
		switch st := r.GetOperStatus().GetOperStatus().(type) {
		case *uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperFailure:
			res.Err = failure(st.OperFailure.GetErrCode(), st.OperFailure.GetErrMsg(), res.RequestedPath)
		case *uspmsg.DeleteResp_DeletedObjectResult_OperationStatus_OperSuccess:
			res.Affected = st.OperSuccess.GetAffectedPaths()
			for _, e := range st.OperSuccess.GetUnaffectedPathErrs() {
				res.Unaffected = append(res.Unaffected, failure(e.GetErrCode(), e.GetErrMsg(), e.GetUnaffectedPath()))
			}
		default:
			res.Err = missingStatus(res.RequestedPath)
		}
		out.Results = append(out.Results, res)
	}
	return out
}

// Err returns the failed paths and undeleted instances joined into one error,
// or nil.
func (d *DeleteResp) Err() error {
	var errs []*usperr.Error
	for _, r := range d.Results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
		errs = append(errs, r.Unaffected...)
	}
	return joinErrs(errs)
}
