package agent

import (
	"fmt"
	"time"

	"cuttle/devices/tr181"
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleAdd answers an Add (TR-369 "The Add Message").
//
// The path must name a table the Controller may add to: 7026 when it is not
// in the supported data model, 7018 when it is not a table, 7019 when the
// table is read-only, 7016 when a parent instance does not exist. Since USP
// 1.3 the parents may be searched ("Device.LocalAgent.Controller.*.
// BootParameter."); one row is then created under each.
//
// Parameter failures are reported as for Set; unique key parameters count as
// required whatever the request says. A failed object carries the code of
// its first failed required parameter (7010–7013, or 7025 for a duplicate
// unique key), because AddResp's oper_failure has no room for per-parameter
// errors. The agent fills in missing unique keys (Alias "cpe-N" and the
// like) and returns them all (R-ADD.5). Instance numbers are never reused.
func (a *Agent) handleAdd(from string, req *usp.Add) usp.Body {
	a.begin()
	defer a.end()
	start := a.mark()
	resp := &usp.AddResp{}
	var msgErr *usperr.Error
	for _, obj := range req.Objects {
		results, full := a.addObject(from, obj)
		if full != nil && !req.AllowPartial {
			msgErr = mergeErr(msgErr, full)
		}
		resp.Results = append(resp.Results, results...)
	}
	if msgErr != nil {
		a.rollbackTo(start) // R-ADD.1, R-ADD.2a: nothing is created
		return &usp.ErrorMsg{Err: msgErr}
	}
	return resp
}

// addObject creates the rows one CreateObject asks for. full is the failure
// as an Error message carries it, or nil.
func (a *Agent) addObject(from string, obj usp.AddObject) ([]usp.AddResult, *usperr.Error) {
	fail := func(e *usperr.Error) ([]usp.AddResult, *usperr.Error) {
		return []usp.AddResult{{RequestedPath: obj.Path, Err: e}},
			&usperr.Error{Code: e.Code, Msg: e.Msg, Params: []*usperr.Error{{Code: e.Code, Msg: e.Msg, Path: obj.Path}}}
	}
	p, err := path.Parse(obj.Path)
	if err != nil {
		return fail(usperr.As(err))
	}
	if p.Kind() != path.Object {
		return fail(usperr.AtPath(usperr.InvalidPath, obj.Path, "Add takes a table path, not a %s path", p.Kind()))
	}
	r, uerr := a.resolve(p, len(p.Segments))
	switch {
	case uerr != nil:
		return fail(uerr)
	case !r.table:
		return fail(usperr.AtPath(usperr.ObjectNotATable, obj.Path, "%s is not a table; Add takes a path such as Device.WiFi.SSID.", pathOrInstance(r)))
	case r.obj.Access == usp.ObjReadOnly || r.obj.Access == usp.ObjDeleteOnly:
		return fail(usperr.AtPath(usperr.ObjectNotCreatable, obj.Path, "%s does not allow Controllers to add instances", r.obj.Path))
	}
	if len(r.nodes) == 0 {
		// A search for the parents matched nothing: success, nothing made
		// (R-MSG.4a).
		return []usp.AddResult{{RequestedPath: obj.Path}}, nil
	}
	var out []usp.AddResult
	var full *usperr.Error
	for _, parent := range r.nodes {
		res, f := a.createRow(from, parent, r.obj, obj)
		out = append(out, res)
		if f != nil {
			full = mergeErr(full, f)
		}
	}
	return out, full
}

func pathOrInstance(r resolved) string {
	if r.obj.MultiInstance {
		return "an instance of " + r.obj.Path
	}
	return r.obj.Path
}

// createRow creates one row of t under parent from the settings of obj.
func (a *Agent) createRow(from string, parent *node, t *tr181.Object, obj usp.AddObject) (usp.AddResult, *usperr.Error) {
	res := usp.AddResult{RequestedPath: obj.Path}
	sp := a.mark()
	row := a.addRow(parent, t)
	rowPath := row.path()
	if e := a.initRow(from, row); e != nil {
		a.rollbackTo(sp)
		res.Err = e
		return res, &usperr.Error{Code: e.Code, Msg: e.Msg, Params: []*usperr.Error{{Code: e.Code, Msg: e.Msg, Path: obj.Path}}}
	}
	var first *usperr.Error
	var fullErrs []*usperr.Error
	for _, ps := range obj.Params {
		target, prm := paramTarget(row, ps.Name)
		required := ps.Required || (target == row && t.IsKey(ps.Name))
		var perr *usperr.Error
		if prm == nil {
			perr = usperr.New(usperr.UnsupportedParameter, "%s has no parameter %q", t.Path, ps.Name)
		} else {
			var v string
			if v, perr = a.checkWrite(target, prm, ps.Value, true); perr == nil {
				target.vals[prm.Index] = v // a new instance: no ValueChange
				continue
			}
		}
		perr.Path = ps.Name
		fullErrs = append(fullErrs, &usperr.Error{Code: perr.Code, Msg: perr.Msg, Path: rowPath + ps.Name})
		if required && first == nil {
			first = perr
		}
		res.ParamErrs = append(res.ParamErrs, perr)
	}
	if first == nil {
		if first = a.assignKeys(row); first != nil {
			fullErrs = append(fullErrs, &usperr.Error{Code: first.Code, Msg: first.Msg, Path: rowPath + first.Path})
		}
	}
	if first != nil {
		a.rollbackTo(sp)
		msg := fmt.Sprintf("%s: %s", first.Path, first.Msg)
		res.Err, res.ParamErrs = &usperr.Error{Code: first.Code, Msg: msg, Path: obj.Path}, nil
		return res, &usperr.Error{Code: first.Code, Msg: msg, Params: fullErrs}
	}
	a.touched(row)
	a.afterAdd(row)
	a.created(row)
	res.InstantiatedPath = rowPath
	res.UniqueKeys = row.uniqueKeys()
	return res, nil
}

// initRow sets what the agent decides for a new row before the Controller's
// values: a Subscription's Recipient and CreationDate.
func (a *Agent) initRow(from string, row *node) *usperr.Error {
	s := dm()
	if row.obj != s.subscription {
		return nil
	}
	ctrl := a.controllerFor(from)
	if ctrl == nil {
		return usperr.New(usperr.RequestDenied, "%q is not a Controller of this agent, so it cannot subscribe", from)
	}
	row.put("Recipient", ctrl.ref())
	row.put("CreationDate", a.now.UTC().Truncate(time.Second).Format(time.RFC3339))
	return nil
}

// assignKeys gives a new row the unique keys the Controller left empty
// (R-ADD.5) and checks that its keys are unique.
func (a *Agent) assignKeys(row *node) *usperr.Error {
	s := dm()
	fill := func(name, v string) {
		if p := row.obj.Param(name); p != nil && row.vals[p.Index] == "" {
			row.vals[p.Index] = a.unique(row, name, v)
		}
	}
	n := uitoa(row.num)
	fill("Alias", "cpe-"+n)
	switch row.obj {
	case s.subscription:
		fill("ID", "cpe-sub-"+n)
	case s.ssid:
		fill("Name", "ssid"+n)
		mac := a.randomMAC()
		fill("BSSID", mac)
		fill("MACAddress", mac)
	case s.ipIf:
		fill("Name", "ip"+n)
	}
	for _, ks := range row.obj.UniqueKeys {
		vals := make([]string, len(ks))
		empty := true
		for i, k := range ks {
			vals[i] = row.get(k)
			empty = empty && vals[i] == ""
		}
		if !empty && a.keyTaken(row, ks, vals) {
			return usperr.AtPath(usperr.ObjectDuplicateKey, ks[0], "another %s instance already has this unique key", row.obj.Path)
		}
	}
	return nil
}

// unique returns v, or v with a suffix, so that no other row of n's table
// has it as its name parameter.
func (a *Agent) unique(n *node, name, v string) string {
	for i := 2; ; i++ {
		if !a.keyTaken(n, []string{name}, []string{v}) {
			return v
		}
		v = fmt.Sprintf("%s-%d", v, i)
	}
}

// afterAdd makes a new row consistent with its values.
func (a *Agent) afterAdd(row *node) {
	s := dm()
	on := row.get("Enable") == "true"
	switch row.obj {
	case s.ssid, s.ipIf:
		row.put("Status", pick(on, "Up", "Down"))
	case s.ap, s.ipv4:
		row.put("Status", pick(on, "Enabled", "Disabled"))
	}
}

// controllerFor returns the Controller row whose EndpointID is eid, or nil.
func (a *Agent) controllerFor(eid string) *node {
	la := a.root.child("LocalAgent")
	for _, c := range la.rows(dm().controller) {
		if c.get("EndpointID") == eid {
			return c
		}
	}
	return nil
}
