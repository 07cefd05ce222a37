package agent

import (
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleDelete answers a Delete (TR-369 "The Delete Message").
//
// A path in the supported data model that matches no instance, whether a
// search or a concrete instance number, succeeds with no affected paths
// (R-DEL.2a; TP-469 1.25 and 1.29 check exactly that for a non-existent
// instance). A path outside the supported data model fails with 7026, one
// that names a single-instance object with 7018, a table without an
// instance with 7026, and a table Controllers may not delete from with 7024.
// With allow_partial=false any failure fails the message (R-DEL.1) with an
// Error naming each failed path in param_errs, and nothing is deleted.
func (a *Agent) handleDelete(req *usp.Delete) usp.Body {
	a.begin()
	defer a.end()
	start := a.mark()
	resp := &usp.DeleteResp{Results: make([]usp.DeleteResult, 0, len(req.Paths))}
	var msgErr *usperr.Error
	for _, ps := range req.Paths {
		res := a.deletePath(ps)
		if res.Err != nil && !req.AllowPartial {
			msgErr = mergeErr(msgErr, &usperr.Error{Code: res.Err.Code, Msg: res.Err.Msg,
				Params: []*usperr.Error{{Code: res.Err.Code, Msg: res.Err.Msg, Path: ps}}})
		}
		resp.Results = append(resp.Results, res)
	}
	if msgErr != nil {
		a.rollbackTo(start)
		return &usp.ErrorMsg{Err: msgErr}
	}
	return resp
}

func (a *Agent) deletePath(ps string) usp.DeleteResult {
	res := usp.DeleteResult{RequestedPath: ps}
	p, err := path.Parse(ps)
	if err != nil {
		res.Err = usperr.As(err)
		return res
	}
	if p.Kind() != path.Object {
		res.Err = usperr.AtPath(usperr.InvalidPath, ps, "Delete takes object instance paths, not a %s path", p.Kind())
		return res
	}
	r, uerr := a.resolve(p, len(p.Segments))
	switch {
	case uerr != nil && uerr.Code == usperr.ObjectDoesNotExist:
		return res // R-DEL.2a
	case uerr != nil:
		res.Err = uerr
	case !r.obj.MultiInstance:
		res.Err = usperr.AtPath(usperr.ObjectNotATable, ps, "%s is not a table, so it has no instances to delete", r.obj.Path)
	case r.table:
		res.Err = usperr.AtPath(usperr.InvalidPath, ps, "%s is a table: name the instances to delete", r.obj.Path)
	case r.obj.Access == usp.ObjReadOnly || r.obj.Access == usp.ObjAddOnly:
		res.Err = usperr.AtPath(usperr.DeleteFailure, ps, "%s does not allow Controllers to delete instances", r.obj.Path)
	}
	if res.Err != nil {
		return res
	}
	for _, n := range r.nodes {
		res.Affected = append(res.Affected, n.path())
		a.deleteRow(n, true)
	}
	return res
}
