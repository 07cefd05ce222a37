package agent

import (
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleGet answers a Get (TR-369 "The Get Message"): one result per
// requested path, and in it one ResolvedPathResult per object instance
// (USP 1.2+), parameter names relative to it.
func (a *Agent) handleGet(req *usp.Get) *usp.GetResp {
	resp := &usp.GetResp{Results: make([]usp.GetResult, 0, len(req.Paths))}
	for _, ps := range req.Paths {
		resp.Results = append(resp.Results, a.getPath(ps, req.MaxDepth))
	}
	return resp
}

func (a *Agent) getPath(ps string, maxDepth uint32) usp.GetResult {
	res := usp.GetResult{RequestedPath: ps}
	p, err := path.Parse(ps)
	if err != nil {
		res.Err = usperr.As(err) // InvalidPath (7026)
		return res
	}
	switch p.Kind() {
	case path.Object:
		r, uerr := a.resolve(p, len(p.Segments))
		if uerr != nil {
			res.Err = getErr(uerr)
			return res
		}
		// A table's rows are at the table's own depth: "Device.WiFi.SSID."
		// with max_depth 1 gives each SSID's parameters.
		for _, n := range r.instances() {
			res.Resolved = collect(res.Resolved, n, maxDepth, 1)
		}
	case path.Parameter:
		r, uerr := a.resolve(p, len(p.Segments)-1)
		if uerr != nil {
			res.Err = getErr(uerr)
			return res
		}
		name := p.Name()
		prm := r.obj.Param(name)
		switch {
		case r.table:
			res.Err = usperr.AtPath(usperr.InvalidPath, ps, "%s is a table: address its instances to read %s", r.obj.Path, name)
		case prm == nil:
			res.Err = usperr.AtPath(usperr.InvalidPath, ps, "%s has no parameter %q", r.obj.Path, name)
		default:
			// R-GET.2/3: the parent object, holding just that parameter.
			for _, n := range r.nodes {
				res.Resolved = append(res.Resolved, usp.ResolvedPath{Path: n.path(), Params: map[string]string{name: n.read(prm)}})
			}
		}
	default:
		res.Err = usperr.AtPath(usperr.InvalidPath, ps, "Get reads objects and parameters, not %s paths", p.Kind())
	}
	return res
}

// getErr maps a resolution failure to Get's code: a path that is not in the
// instantiated data model is 7026 too (R-GET.0).
func getErr(e *usperr.Error) *usperr.Error {
	if e.Code == usperr.ObjectDoesNotExist {
		return &usperr.Error{Code: usperr.InvalidPath, Msg: e.Msg, Path: e.Path}
	}
	return e
}

// collect appends n's parameters and, within maxDepth (0: unlimited), those
// of the instances below it. Objects without parameters add no result
// (R-GET.1b).
func collect(out []usp.ResolvedPath, n *node, maxDepth uint32, level uint32) []usp.ResolvedPath {
	return collectAt(out, n, string(n.appendPath(nil)), maxDepth, level)
}

func collectAt(out []usp.ResolvedPath, n *node, p string, maxDepth, level uint32) []usp.ResolvedPath {
	if len(n.obj.Params) > 0 {
		params := make(map[string]string, len(n.obj.Params))
		for _, prm := range n.obj.Params {
			params[prm.Name] = n.read(prm)
		}
		out = append(out, usp.ResolvedPath{Path: p, Params: params})
	}
	if maxDepth != 0 && level >= maxDepth {
		return out
	}
	for i, c := range n.obj.Children {
		for _, r := range n.kids[i].rows {
			cp := p + c.Name + "."
			if c.MultiInstance {
				cp += uitoa(r.num) + "."
			}
			out = collectAt(out, r, cp, maxDepth, level+1)
		}
	}
	return out
}
