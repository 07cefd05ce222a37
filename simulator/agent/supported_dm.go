package agent

import (
	"strings"

	"cuttle/devices/tr181"
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// handleGetSupportedDM answers a GetSupportedDM (TR-369 "The
// GetSupportedDM Message") from the shared schema. A path may be in
// supported form ("Device.WiFi.SSID.{i}.", or with the final "{i}." left
// out), an existing instance ("Device.WiFi.SSID.1.", 7016 if it does not
// exist), or a parameter, command or event path, which reports that element
// alone. Anything else is 7026.
func (a *Agent) handleGetSupportedDM(req *usp.GetSupportedDM) *usp.GetSupportedDMResp {
	resp := &usp.GetSupportedDMResp{Results: make([]usp.SupportedDMResult, 0, len(req.Paths))}
	for _, ps := range req.Paths {
		res := usp.SupportedDMResult{RequestedPath: ps}
		obj, elem, err := a.supportedTarget(ps)
		if err != nil {
			res.Err = err
			resp.Results = append(resp.Results, res)
			continue
		}
		res.DataModelURI = dm().model.URI
		switch {
		case elem != "":
			res.Objects = []usp.SupportedObject{supportedElement(obj, elem, req)}
		case req.FirstLevelOnly:
			// The object and its direct children; the children without
			// their parameters, commands and events.
			res.Objects = append(res.Objects, supportedObject(obj, req, true))
			for _, c := range obj.Children {
				res.Objects = append(res.Objects, supportedObject(c, req, false))
			}
		default:
			var walk func(o *tr181.Object)
			walk = func(o *tr181.Object) {
				res.Objects = append(res.Objects, supportedObject(o, req, true))
				for _, c := range o.Children {
					walk(c)
				}
			}
			walk(obj)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// supportedTarget finds the object a GetSupportedDM path names, and for a
// parameter, command or event path the element's name as written.
func (a *Agent) supportedTarget(ps string) (*tr181.Object, string, *usperr.Error) {
	var p *path.Path
	var err error
	if strings.Contains(ps, "{i}") {
		p, err = path.ParseSupported(ps)
	} else {
		p, err = path.Parse(ps)
	}
	if err != nil {
		return nil, "", usperr.As(err)
	}
	nobj := len(p.Segments)
	if p.Kind() != path.Object {
		nobj--
	}
	concrete := false
	for _, s := range p.Segments[:nobj] {
		concrete = concrete || s.Kind == path.SegInstance || s.Kind == path.SegWildcard || s.Kind == path.SegExpr
	}
	if concrete {
		// An instantiated path is fine as long as the object exists.
		if _, uerr := a.resolve(p, nobj); uerr != nil {
			return nil, "", uerr
		}
	}
	m := dm().model
	sp := p.Supported()
	if p.Kind() == path.Object {
		o := m.Object(sp)
		if o == nil {
			return nil, "", usperr.AtPath(usperr.InvalidPath, ps, "not in the supported data model")
		}
		return o, "", nil
	}
	o, name := m.Lookup(sp)
	if o == nil ||
		(p.Kind() == path.Parameter && o.Param(name) == nil) ||
		(p.Kind() == path.Command && o.Command(name) == nil) ||
		(p.Kind() == path.Event && o.Event(name) == nil) {
		return nil, "", usperr.AtPath(usperr.InvalidPath, ps, "not in the supported data model")
	}
	return o, name, nil
}

// supportedObject describes o; with details, its parameters, commands and
// events as the request asks.
func supportedObject(o *tr181.Object, req *usp.GetSupportedDM, details bool) usp.SupportedObject {
	so := usp.SupportedObject{Path: o.Path, Access: o.Access, MultiInstance: o.MultiInstance}
	if details && req.ReturnParams {
		for _, p := range o.Params {
			so.Params = append(so.Params, supportedParam(p))
		}
	}
	if details && req.ReturnCommands {
		for _, c := range o.Commands {
			so.Commands = append(so.Commands, supportedCommand(c))
		}
	}
	if details && req.ReturnEvents {
		for _, e := range o.Events {
			so.Events = append(so.Events, usp.SupportedEvent{Name: e.Name, Args: e.Args})
		}
	}
	if req.ReturnUniqueKeySets {
		so.UniqueKeySets = o.UniqueKeys
	}
	return so
}

// supportedElement describes o with only the one element a path named.
func supportedElement(o *tr181.Object, name string, req *usp.GetSupportedDM) usp.SupportedObject {
	so := usp.SupportedObject{Path: o.Path, Access: o.Access, MultiInstance: o.MultiInstance}
	if p := o.Param(name); p != nil {
		so.Params = []usp.SupportedParam{supportedParam(p)}
	}
	if c := o.Command(name); c != nil {
		so.Commands = []usp.SupportedCommand{supportedCommand(c)}
	}
	if e := o.Event(name); e != nil {
		so.Events = []usp.SupportedEvent{{Name: e.Name, Args: e.Args}}
	}
	if req.ReturnUniqueKeySets {
		so.UniqueKeySets = o.UniqueKeys
	}
	return so
}

func supportedParam(p *tr181.Param) usp.SupportedParam {
	return usp.SupportedParam{Name: p.Name, Access: p.Access, Type: p.Type, ValueChange: p.ValueChange}
}

func supportedCommand(c *tr181.Command) usp.SupportedCommand {
	return usp.SupportedCommand{Name: c.Name, Inputs: c.InputNames(), Outputs: c.Outputs, Type: c.Type}
}
