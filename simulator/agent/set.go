package agent

import (
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleSet answers a Set (TR-369 "The Set Message").
//
// Per object path: a parameter that fails gets a ParameterError (7010
// unknown, 7013 not writable, 7011 wrong type, 7012 bad value, 7025
// duplicate key); if it was required the object fails with 7021 and none of
// its changes stay. Failures of non-required parameters never fail the
// object (the allow_partial table of TR-369).
//
// With allow_partial=false a failed object fails the message: nothing
// changes and the answer is an Error carrying the object's code and a
// param_err per failed parameter (full path). With allow_partial=true the
// failed object gets an oper_failure and the others are updated. A search
// path matching several objects is all-or-nothing and always reported in
// the SetResp, whatever allow_partial says (R-SET.2a).
func (a *Agent) handleSet(req *usp.Set) usp.Body {
	a.begin()
	defer a.end()
	start := a.mark()
	resp := &usp.SetResp{Results: make([]usp.SetResult, 0, len(req.Objects))}
	var msgErr *usperr.Error
	for _, obj := range req.Objects {
		sp := a.mark()
		res, full, holistic := a.setObject(obj)
		if res.Err != nil {
			a.rollbackTo(sp)
			if !req.AllowPartial && !holistic {
				msgErr = mergeErr(msgErr, full)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	if msgErr != nil {
		a.rollbackTo(start)
		return &usp.ErrorMsg{Err: msgErr}
	}
	return resp
}

// mergeErr folds one failed object into the message's Error: the first
// failure gives the code, every failure adds its param_errs.
func mergeErr(msg, obj *usperr.Error) *usperr.Error {
	if msg == nil {
		return &usperr.Error{Code: obj.Code, Msg: obj.Msg, Params: obj.Params}
	}
	msg.Params = append(msg.Params, obj.Params...)
	return msg
}

// setObject applies one UpdateObject. It returns the result, the failure as
// an Error message would carry it (param_errs with full paths), and whether
// R-SET.2a applies.
func (a *Agent) setObject(obj usp.SetObject) (res usp.SetResult, full *usperr.Error, holistic bool) {
	res.RequestedPath = obj.Path
	pathFail := func(e *usperr.Error) (usp.SetResult, *usperr.Error, bool) {
		res.Err = e
		return res, &usperr.Error{Code: e.Code, Msg: e.Msg, Params: []*usperr.Error{{Code: e.Code, Msg: e.Msg, Path: obj.Path}}}, false
	}
	p, err := path.Parse(obj.Path)
	if err != nil {
		return pathFail(usperr.As(err))
	}
	if p.Kind() != path.Object {
		return pathFail(usperr.AtPath(usperr.InvalidPath, obj.Path, "Set takes an object path, not a %s path", p.Kind()))
	}
	r, uerr := a.resolve(p, len(p.Segments))
	if uerr != nil {
		return pathFail(uerr) // 7026, or 7016 for an instance that does not exist
	}
	if r.table {
		return pathFail(usperr.AtPath(usperr.InvalidPath, obj.Path, "%s is a table: address its instances", r.obj.Path))
	}
	holistic = r.search && len(r.nodes) > 1
	var failed []usp.InstanceErrors
	var fullErrs []*usperr.Error
	for _, n := range r.nodes {
		upd := usp.UpdatedInstance{Path: n.path(), Params: make(map[string]string, len(obj.Params))}
		var errs []*usperr.Error
		reqFailed := false
		for _, ps := range obj.Params {
			target, prm := paramTarget(n, ps.Name)
			if prm == nil {
				errs = append(errs, usperr.AtPath(usperr.UnsupportedParameter, ps.Name, "%s has no parameter %q", n.obj.Path, ps.Name))
				reqFailed = reqFailed || ps.Required
				continue
			}
			v, perr := a.checkWrite(target, prm, ps.Value, false)
			if perr != nil {
				perr.Path = ps.Name
				errs = append(errs, perr)
				reqFailed = reqFailed || ps.Required
				continue
			}
			a.set(target, prm, v)
			a.afterSet(target, prm)
			upd.Params[ps.Name] = target.read(prm)
		}
		if reqFailed {
			failed = append(failed, usp.InstanceErrors{Path: upd.Path, Params: errs})
			for _, e := range errs {
				fullErrs = append(fullErrs, &usperr.Error{Code: e.Code, Msg: e.Msg, Path: upd.Path + e.Path})
			}
			continue
		}
		upd.ParamErrs = errs
		res.Updated = append(res.Updated, upd)
	}
	if len(failed) > 0 {
		res.Err = usperr.AtPath(usperr.RequiredParamFailed, obj.Path, "a required parameter could not be set")
		res.Failed = failed
		res.Updated = nil
		return res, &usperr.Error{Code: usperr.RequiredParamFailed, Msg: res.Err.Msg, Params: fullErrs}, holistic
	}
	return res, nil, holistic
}
