package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// Get asks for the values of parameters (R-GET).
type Get struct {
	Paths []string
	// MaxDepth limits how deep below each path the agent returns values:
	// 1 = only the object's own parameters, 2 = one sub-object level more,
	// 0 = unlimited.
	MaxDepth uint32
}

// NewGet returns a Get for paths with the given max_depth (0 = unlimited).
func NewGet(maxDepth uint32, paths ...string) *Get {
	return &Get{Paths: paths, MaxDepth: maxDepth}
}

// MsgType implements Body.
func (*Get) MsgType() MsgType { return uspmsg.Header_GET }

func (g *Get) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_Get{Get: &uspmsg.Get{
		ParamPaths: g.Paths, MaxDepth: g.MaxDepth,
	}}})
}

func decodeGet(g *uspmsg.Get) *Get {
	return &Get{Paths: g.GetParamPaths(), MaxDepth: g.GetMaxDepth()}
}

// GetResp answers a Get: one result per requested path.
type GetResp struct {
	Results []GetResult
}

// GetResult is the outcome for one requested path.
type GetResult struct {
	RequestedPath string
	// Err is set when this path failed (for example 7026 for a path not in
	// the data model); Resolved is then empty.
	Err *usperr.Error
	// Resolved holds one entry per object instance the path resolved to.
	Resolved []ResolvedPath
}

// ResolvedPath holds the parameters of one resolved object instance.
type ResolvedPath struct {
	// Path is the object instance path, ending in ".".
	Path string
	// Params maps parameter paths relative to Path to their values.
	Params map[string]string
}

// MsgType implements Body.
func (*GetResp) MsgType() MsgType { return uspmsg.Header_GET_RESP }

func (g *GetResp) encode() *uspmsg.Body {
	out := &uspmsg.GetResp{}
	for _, r := range g.Results {
		rr := &uspmsg.GetResp_RequestedPathResult{RequestedPath: r.RequestedPath}
		rr.ErrCode, rr.ErrMsg = errToWire(r.Err)
		for _, res := range r.Resolved {
			rr.ResolvedPathResults = append(rr.ResolvedPathResults, &uspmsg.GetResp_ResolvedPathResult{
				ResolvedPath: res.Path, ResultParams: res.Params,
			})
		}
		out.ReqPathResults = append(out.ReqPathResults, rr)
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_GetResp{GetResp: out}})
}

func decodeGetResp(g *uspmsg.GetResp) *GetResp {
	out := &GetResp{}
	for _, r := range g.GetReqPathResults() {
		res := GetResult{
			RequestedPath: r.GetRequestedPath(),
			Err:           errFromWire(r.GetErrCode(), r.GetErrMsg(), r.GetRequestedPath()),
		}
		for _, rp := range r.GetResolvedPathResults() {
			res.Resolved = append(res.Resolved, ResolvedPath{Path: rp.GetResolvedPath(), Params: nilIfEmpty(rp.GetResultParams())})
		}
		out.Results = append(out.Results, res)
	}
	return out
}

// Values flattens the response into full parameter paths and their values,
// skipping failed paths. Use Err to learn about those.
func (g *GetResp) Values() map[string]string {
	out := make(map[string]string)
	for _, r := range g.Results {
		for _, res := range r.Resolved {
			for k, v := range res.Params {
				out[res.Path+k] = v
			}
		}
	}
	return out
}

// Err returns the per-path failures of the response joined into one error
// (each a *usperr.Error, reachable with errors.As), or nil if none failed.
func (g *GetResp) Err() error {
	var errs []*usperr.Error
	for _, r := range g.Results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return joinErrs(errs)
}
