package usp

import (
	"cuttle/proto/uspmsg"
	"cuttle/usp/usperr"
)

// GetInstances asks which instances of tables exist (R-GIN).
type GetInstances struct {
	Paths []string
	// FirstLevelOnly limits the answer to the tables named, not their
	// sub-tables.
	FirstLevelOnly bool
}

// NewGetInstances returns a GetInstances of paths.
func NewGetInstances(firstLevelOnly bool, paths ...string) *GetInstances {
	return &GetInstances{Paths: paths, FirstLevelOnly: firstLevelOnly}
}

// MsgType implements Body.
func (*GetInstances) MsgType() MsgType { return uspmsg.Header_GET_INSTANCES }

func (g *GetInstances) encode() *uspmsg.Body {
	return request(&uspmsg.Request{ReqType: &uspmsg.Request_GetInstances{GetInstances: &uspmsg.GetInstances{
		ObjPaths: g.Paths, FirstLevelOnly: g.FirstLevelOnly,
	}}})
}

func decodeGetInstances(g *uspmsg.GetInstances) *GetInstances {
	return &GetInstances{Paths: g.GetObjPaths(), FirstLevelOnly: g.GetFirstLevelOnly()}
}

// GetInstancesResp answers a GetInstances.
type GetInstancesResp struct {
	Results []InstancesResult
}

// InstancesResult is the outcome for one requested path.
type InstancesResult struct {
	RequestedPath string
	Err           *usperr.Error
	Instances     []Instance
}

// Instance is one existing object instance and its unique keys.
type Instance struct {
	Path       string
	UniqueKeys map[string]string
}

// MsgType implements Body.
func (*GetInstancesResp) MsgType() MsgType { return uspmsg.Header_GET_INSTANCES_RESP }

func (g *GetInstancesResp) encode() *uspmsg.Body {
	out := &uspmsg.GetInstancesResp{}
	for _, r := range g.Results {
		rr := &uspmsg.GetInstancesResp_RequestedPathResult{RequestedPath: r.RequestedPath}
		rr.ErrCode, rr.ErrMsg = errToWire(r.Err)
		for _, inst := range r.Instances {
			rr.CurrInsts = append(rr.CurrInsts, &uspmsg.GetInstancesResp_CurrInstance{InstantiatedObjPath: inst.Path, UniqueKeys: inst.UniqueKeys})
		}
		out.ReqPathResults = append(out.ReqPathResults, rr)
	}
	return response(&uspmsg.Response{RespType: &uspmsg.Response_GetInstancesResp{GetInstancesResp: out}})
}

func decodeGetInstancesResp(g *uspmsg.GetInstancesResp) *GetInstancesResp {
	out := &GetInstancesResp{}
	for _, r := range g.GetReqPathResults() {
		res := InstancesResult{RequestedPath: r.GetRequestedPath(), Err: errFromWire(r.GetErrCode(), r.GetErrMsg(), r.GetRequestedPath())}
		for _, inst := range r.GetCurrInsts() {
			res.Instances = append(res.Instances, Instance{Path: inst.GetInstantiatedObjPath(), UniqueKeys: nilIfEmpty(inst.GetUniqueKeys())})
		}
		out.Results = append(out.Results, res)
	}
	return out
}
