package agent

import (
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleGetInstances answers a GetInstances (TR-369 "The GetInstances
// Message"): the instances of the tables named, each with its unique keys,
// and unless first_level_only the instances of every table below them. A
// path names a table ("Device.WiFi.SSID.") or instances of one (a number,
// "*" or a search). A single-instance object is refused with 7018, a
// concrete instance that does not exist with 7016, a path outside the
// supported data model with 7026; a search matching nothing succeeds empty.
func (a *Agent) handleGetInstances(req *usp.GetInstances) *usp.GetInstancesResp {
	resp := &usp.GetInstancesResp{Results: make([]usp.InstancesResult, 0, len(req.Paths))}
	for _, ps := range req.Paths {
		res := usp.InstancesResult{RequestedPath: ps}
		insts, err := a.instancesOf(ps)
		if err != nil {
			res.Err = err
		}
		for _, n := range insts {
			n.walk(func(x *node) bool {
				if x.obj.MultiInstance {
					res.Instances = append(res.Instances, usp.Instance{Path: x.path(), UniqueKeys: x.uniqueKeys()})
				}
				return !req.FirstLevelOnly
			})
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}

func (a *Agent) instancesOf(ps string) ([]*node, *usperr.Error) {
	p, err := path.Parse(ps)
	if err != nil {
		return nil, usperr.As(err)
	}
	if p.Kind() != path.Object {
		return nil, usperr.AtPath(usperr.InvalidPath, ps, "GetInstances takes object paths, not a %s path", p.Kind())
	}
	r, uerr := a.resolve(p, len(p.Segments))
	if uerr != nil {
		return nil, uerr
	}
	if !r.obj.MultiInstance {
		return nil, usperr.AtPath(usperr.ObjectNotATable, ps, "%s is not a table", r.obj.Path)
	}
	return r.instances(), nil
}
