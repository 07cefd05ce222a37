package api

import (
	"maps"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// The JSON forms of USP responses. They keep USP's structure (requested
// path → resolved paths → parameters, one result per requested path, every
// failure with its code) and add flat "values" maps where a script wants
// each parameter under its full path. Arrays and maps are never null, so
// clients can iterate without checks; "error" is null on success.

// uspError is a USP failure: a whole result's, a parameter's (param set)
// or an instance's (path set).
type uspError struct {
	Param   string `json:"param,omitempty"`
	Path    string `json:"path,omitempty"`
	Code    uint32 `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// uspErr converts e, filling in the code's meaning when the device gave no
// message; nil stays nil (JSON null).
func uspErr(e *usperr.Error) *uspError {
	if e == nil {
		return nil
	}
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Meaning()
	}
	return &uspError{Code: uint32(e.Code), Name: e.Code.Name(), Message: msg}
}

// paramErrs converts parameter failures, whose Path is the parameter name.
func paramErrs(errs []*usperr.Error) []uspError {
	out := make([]uspError, 0, len(errs))
	for _, e := range errs {
		x := uspErr(e)
		x.Param = e.Path
		out = append(out, *x)
	}
	return out
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type getResponse struct {
	Results []getResult `json:"results"`
	// Values maps every parameter returned to its value, by full path.
	Values map[string]string `json:"values"`
}

type getResult struct {
	RequestedPath string         `json:"requested_path"`
	Error         *uspError      `json:"error"`
	Resolved      []resolvedPath `json:"resolved"`
}

type resolvedPath struct {
	Path   string            `json:"path"`
	Params map[string]string `json:"params"`
}

func getJSON(r *usp.GetResp) getResponse {
	out := getResponse{Results: make([]getResult, 0, len(r.Results)), Values: r.Values()}
	for _, res := range r.Results {
		g := getResult{RequestedPath: res.RequestedPath, Error: uspErr(res.Err), Resolved: make([]resolvedPath, 0, len(res.Resolved))}
		for _, rp := range res.Resolved {
			g.Resolved = append(g.Resolved, resolvedPath{Path: rp.Path, Params: nonNilMap(rp.Params)})
		}
		out.Results = append(out.Results, g)
	}
	return out
}

type setResponse struct {
	Results []setResult `json:"results"`
	// Values maps every parameter the device changed to its new value, by
	// full path.
	Values map[string]string `json:"values"`
}

type setResult struct {
	RequestedPath string    `json:"requested_path"`
	Error         *uspError `json:"error"`
	// Updated lists the instances changed (success); Failed the instances
	// that could not be, with their parameter errors (failure).
	Updated []updatedInstance `json:"updated"`
	Failed  []failedInstance  `json:"failed"`
}

type updatedInstance struct {
	Path        string            `json:"path"`
	Params      map[string]string `json:"params"`
	ParamErrors []uspError        `json:"param_errors"`
}

type failedInstance struct {
	Path        string     `json:"path"`
	ParamErrors []uspError `json:"param_errors"`
}

func setJSON(r *usp.SetResp) setResponse {
	out := setResponse{Results: make([]setResult, 0, len(r.Results)), Values: map[string]string{}}
	for _, res := range r.Results {
		s := setResult{RequestedPath: res.RequestedPath, Error: uspErr(res.Err), Updated: []updatedInstance{}, Failed: []failedInstance{}}
		for _, u := range res.Updated {
			s.Updated = append(s.Updated, updatedInstance{Path: u.Path, Params: nonNilMap(u.Params), ParamErrors: paramErrs(u.ParamErrs)})
			for k, v := range u.Params {
				out.Values[u.Path+k] = v
			}
		}
		for _, f := range res.Failed {
			s.Failed = append(s.Failed, failedInstance{Path: f.Path, ParamErrors: paramErrs(f.Params)})
		}
		out.Results = append(out.Results, s)
	}
	return out
}

type addResponse struct {
	Results []addResult `json:"results"`
}

type addResult struct {
	RequestedPath    string            `json:"requested_path"`
	Error            *uspError         `json:"error"`
	InstantiatedPath string            `json:"instantiated_path"`
	UniqueKeys       map[string]string `json:"unique_keys"`
	ParamErrors      []uspError        `json:"param_errors"`
}

func addJSON(r *usp.AddResp) addResponse {
	out := addResponse{Results: make([]addResult, 0, len(r.Results))}
	for _, res := range r.Results {
		out.Results = append(out.Results, addResult{
			RequestedPath: res.RequestedPath, Error: uspErr(res.Err), InstantiatedPath: res.InstantiatedPath,
			UniqueKeys: nonNilMap(maps.Clone(res.UniqueKeys)), ParamErrors: paramErrs(res.ParamErrs),
		})
	}
	return out
}

type deleteResponse struct {
	Results []deleteResult `json:"results"`
}

type deleteResult struct {
	RequestedPath string    `json:"requested_path"`
	Error         *uspError `json:"error"`
	Affected      []string  `json:"affected"`
	// Unaffected lists instances the path matched that could not be
	// deleted.
	Unaffected []uspError `json:"unaffected"`
}

func deleteJSON(r *usp.DeleteResp) deleteResponse {
	out := deleteResponse{Results: make([]deleteResult, 0, len(r.Results))}
	for _, res := range r.Results {
		d := deleteResult{RequestedPath: res.RequestedPath, Error: uspErr(res.Err), Affected: nonNilSlice(res.Affected),
			Unaffected: make([]uspError, 0, len(res.Unaffected))}
		for _, e := range res.Unaffected {
			x := uspErr(e)
			x.Path = e.Path
			d.Unaffected = append(d.Unaffected, *x)
		}
		out.Results = append(out.Results, d)
	}
	return out
}

type instancesResponse struct {
	Results []instancesResult `json:"results"`
}

type instancesResult struct {
	RequestedPath string     `json:"requested_path"`
	Error         *uspError  `json:"error"`
	Instances     []instance `json:"instances"`
}

type instance struct {
	Path       string            `json:"path"`
	UniqueKeys map[string]string `json:"unique_keys"`
}

func instancesJSON(r *usp.GetInstancesResp) instancesResponse {
	out := instancesResponse{Results: make([]instancesResult, 0, len(r.Results))}
	for _, res := range r.Results {
		ir := instancesResult{RequestedPath: res.RequestedPath, Error: uspErr(res.Err), Instances: make([]instance, 0, len(res.Instances))}
		for _, in := range res.Instances {
			ir.Instances = append(ir.Instances, instance{Path: in.Path, UniqueKeys: nonNilMap(in.UniqueKeys)})
		}
		out.Results = append(out.Results, ir)
	}
	return out
}

type supportedDMResponse struct {
	Results []supportedDMResult `json:"results"`
}

type supportedDMResult struct {
	RequestedPath string            `json:"requested_path"`
	Error         *uspError         `json:"error"`
	DataModelURI  string            `json:"data_model_uri"`
	Objects       []supportedObject `json:"objects"`
}

type supportedObject struct {
	Path           string             `json:"path"`
	Access         string             `json:"access"`
	MultiInstance  bool               `json:"multi_instance"`
	Params         []supportedParam   `json:"params"`
	Commands       []supportedCommand `json:"commands"`
	Events         []supportedEvent   `json:"events"`
	DivergentPaths []string           `json:"divergent_paths"`
	UniqueKeySets  [][]string         `json:"unique_key_sets"`
}

type supportedParam struct {
	Name        string `json:"name"`
	Access      string `json:"access"`
	Type        string `json:"type"`
	ValueChange string `json:"value_change"`
}

type supportedCommand struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

type supportedEvent struct {
	Name string   `json:"name"`
	Args []string `json:"args"`
}

// Names of GetSupportedDMResp's enums: TR-106 type names, and access and
// modes in snake case.
var (
	objAccessNames = map[usp.ObjAccess]string{
		usp.ObjReadOnly: "read_only", usp.ObjAddDelete: "add_delete", usp.ObjAddOnly: "add_only", usp.ObjDeleteOnly: "delete_only",
	}
	paramAccessNames = map[usp.ParamAccess]string{
		usp.ParamReadOnly: "read_only", usp.ParamReadWrite: "read_write", usp.ParamWriteOnly: "write_only",
	}
	paramTypeNames = map[usp.ParamType]string{
		usp.TypeUnknown: "unknown", usp.TypeBase64: "base64", usp.TypeBoolean: "boolean", usp.TypeDateTime: "dateTime",
		usp.TypeDecimal: "decimal", usp.TypeHexBinary: "hexBinary", usp.TypeInt: "int", usp.TypeLong: "long",
		usp.TypeString: "string", usp.TypeUnsignedInt: "unsignedInt", usp.TypeUnsignedLong: "unsignedLong",
	}
	valueChangeNames = map[usp.ValueChangeMode]string{
		usp.ValueChangeUnknown: "unknown", usp.ValueChangeAllowed: "allowed", usp.ValueChangeWillIgnore: "will_ignore",
	}
	commandTypeNames = map[usp.CommandType]string{
		usp.CommandUnknown: "unknown", usp.CommandSync: "sync", usp.CommandAsync: "async",
	}
)

// enumName names v, or "unknown" for a value newer than this table.
func enumName[K comparable](names map[K]string, v K) string {
	if s, ok := names[v]; ok {
		return s
	}
	return "unknown"
}

func supportedDMJSON(r *usp.GetSupportedDMResp) supportedDMResponse {
	out := supportedDMResponse{Results: make([]supportedDMResult, 0, len(r.Results))}
	for _, res := range r.Results {
		sr := supportedDMResult{RequestedPath: res.RequestedPath, Error: uspErr(res.Err), DataModelURI: res.DataModelURI,
			Objects: make([]supportedObject, 0, len(res.Objects))}
		for _, o := range res.Objects {
			so := supportedObject{
				Path: o.Path, Access: enumName(objAccessNames, o.Access), MultiInstance: o.MultiInstance,
				Params: make([]supportedParam, 0, len(o.Params)), Commands: make([]supportedCommand, 0, len(o.Commands)),
				Events: make([]supportedEvent, 0, len(o.Events)), DivergentPaths: nonNilSlice(o.DivergentPaths),
				UniqueKeySets: make([][]string, 0, len(o.UniqueKeySets)),
			}
			for _, p := range o.Params {
				so.Params = append(so.Params, supportedParam{Name: p.Name, Access: enumName(paramAccessNames, p.Access),
					Type: enumName(paramTypeNames, p.Type), ValueChange: enumName(valueChangeNames, p.ValueChange)})
			}
			for _, c := range o.Commands {
				so.Commands = append(so.Commands, supportedCommand{Name: c.Name, Type: enumName(commandTypeNames, c.Type),
					Inputs: nonNilSlice(c.Inputs), Outputs: nonNilSlice(c.Outputs)})
			}
			for _, e := range o.Events {
				so.Events = append(so.Events, supportedEvent{Name: e.Name, Args: nonNilSlice(e.Args)})
			}
			for _, ks := range o.UniqueKeySets {
				so.UniqueKeySets = append(so.UniqueKeySets, nonNilSlice(ks))
			}
			sr.Objects = append(sr.Objects, so)
		}
		out.Results = append(out.Results, sr)
	}
	return out
}

type supportedProtocolResponse struct {
	Versions []string `json:"versions"`
}
