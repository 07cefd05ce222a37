// Package uspjson is the JSON form of USP responses shared by the REST API
// and bulk jobs, so a device's answer reads the same whichever way it came.
package uspjson

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

// Error is a USP failure: a whole result's, a parameter's (param set)
// or an instance's (path set).
type Error struct {
	Param   string `json:"param,omitempty"`
	Path    string `json:"path,omitempty"`
	Code    uint32 `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// FromError converts e, filling in the code's meaning when the device gave no
// message; nil stays nil (JSON null).
func FromError(e *usperr.Error) *Error {
	if e == nil {
		return nil
	}
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Meaning()
	}
	return &Error{Code: uint32(e.Code), Name: e.Code.Name(), Message: msg}
}

// ParamErrors converts parameter failures, whose Path is the parameter name.
func ParamErrors(errs []*usperr.Error) []Error {
	out := make([]Error, 0, len(errs))
	for _, e := range errs {
		x := FromError(e)
		x.Param = e.Path
		out = append(out, *x)
	}
	return out
}

func NonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func NonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type GetResponse struct {
	Results []GetResult `json:"results"`
	// Values maps every parameter returned to its value, by full path.
	Values map[string]string `json:"values"`
}

type GetResult struct {
	RequestedPath string         `json:"requested_path"`
	Error         *Error         `json:"error"`
	Resolved      []ResolvedPath `json:"resolved"`
}

type ResolvedPath struct {
	Path   string            `json:"path"`
	Params map[string]string `json:"params"`
}

func Get(r *usp.GetResp) GetResponse {
	out := GetResponse{Results: make([]GetResult, 0, len(r.Results)), Values: r.Values()}
	for _, res := range r.Results {
		g := GetResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), Resolved: make([]ResolvedPath, 0, len(res.Resolved))}
		for _, rp := range res.Resolved {
			g.Resolved = append(g.Resolved, ResolvedPath{Path: rp.Path, Params: NonNilMap(rp.Params)})
		}
		out.Results = append(out.Results, g)
	}
	return out
}

type SetResponse struct {
	Results []SetResult `json:"results"`
	// Values maps every parameter the device changed to its new value, by
	// full path.
	Values map[string]string `json:"values"`
}

type SetResult struct {
	RequestedPath string `json:"requested_path"`
	Error         *Error `json:"error"`
	// Updated lists the instances changed (success); Failed the instances
	// that could not be, with their parameter errors (failure).
	Updated []UpdatedInstance `json:"updated"`
	Failed  []FailedInstance  `json:"failed"`
}

type UpdatedInstance struct {
	Path        string            `json:"path"`
	Params      map[string]string `json:"params"`
	ParamErrors []Error           `json:"param_errors"`
}

type FailedInstance struct {
	Path        string  `json:"path"`
	ParamErrors []Error `json:"param_errors"`
}

func Set(r *usp.SetResp) SetResponse {
	out := SetResponse{Results: make([]SetResult, 0, len(r.Results)), Values: map[string]string{}}
	for _, res := range r.Results {
		s := SetResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), Updated: []UpdatedInstance{}, Failed: []FailedInstance{}}
		for _, u := range res.Updated {
			s.Updated = append(s.Updated, UpdatedInstance{Path: u.Path, Params: NonNilMap(u.Params), ParamErrors: ParamErrors(u.ParamErrs)})
			for k, v := range u.Params {
				out.Values[u.Path+k] = v
			}
		}
		for _, f := range res.Failed {
			s.Failed = append(s.Failed, FailedInstance{Path: f.Path, ParamErrors: ParamErrors(f.Params)})
		}
		out.Results = append(out.Results, s)
	}
	return out
}

type AddResponse struct {
	Results []AddResult `json:"results"`
}

type AddResult struct {
	RequestedPath    string            `json:"requested_path"`
	Error            *Error            `json:"error"`
	InstantiatedPath string            `json:"instantiated_path"`
	UniqueKeys       map[string]string `json:"unique_keys"`
	ParamErrors      []Error           `json:"param_errors"`
}

func Add(r *usp.AddResp) AddResponse {
	out := AddResponse{Results: make([]AddResult, 0, len(r.Results))}
	for _, res := range r.Results {
		out.Results = append(out.Results, AddResult{
			RequestedPath: res.RequestedPath, Error: FromError(res.Err), InstantiatedPath: res.InstantiatedPath,
			UniqueKeys: NonNilMap(maps.Clone(res.UniqueKeys)), ParamErrors: ParamErrors(res.ParamErrs),
		})
	}
	return out
}

type DeleteResponse struct {
	Results []DeleteResult `json:"results"`
}

type DeleteResult struct {
	RequestedPath string   `json:"requested_path"`
	Error         *Error   `json:"error"`
	Affected      []string `json:"affected"`
	// Unaffected lists instances the path matched that could not be
	// deleted.
	Unaffected []Error `json:"unaffected"`
}

func Delete(r *usp.DeleteResp) DeleteResponse {
	out := DeleteResponse{Results: make([]DeleteResult, 0, len(r.Results))}
	for _, res := range r.Results {
		d := DeleteResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), Affected: NonNilSlice(res.Affected),
			Unaffected: make([]Error, 0, len(res.Unaffected))}
		for _, e := range res.Unaffected {
			x := FromError(e)
			x.Path = e.Path
			d.Unaffected = append(d.Unaffected, *x)
		}
		out.Results = append(out.Results, d)
	}
	return out
}

type InstancesResponse struct {
	Results []InstancesResult `json:"results"`
}

type InstancesResult struct {
	RequestedPath string     `json:"requested_path"`
	Error         *Error     `json:"error"`
	Instances     []Instance `json:"instances"`
}

type Instance struct {
	Path       string            `json:"path"`
	UniqueKeys map[string]string `json:"unique_keys"`
}

func Instances(r *usp.GetInstancesResp) InstancesResponse {
	out := InstancesResponse{Results: make([]InstancesResult, 0, len(r.Results))}
	for _, res := range r.Results {
		ir := InstancesResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), Instances: make([]Instance, 0, len(res.Instances))}
		for _, in := range res.Instances {
			ir.Instances = append(ir.Instances, Instance{Path: in.Path, UniqueKeys: NonNilMap(in.UniqueKeys)})
		}
		out.Results = append(out.Results, ir)
	}
	return out
}

type SupportedDMResponse struct {
	Results []SupportedDMResult `json:"results"`
}

type SupportedDMResult struct {
	RequestedPath string            `json:"requested_path"`
	Error         *Error            `json:"error"`
	DataModelURI  string            `json:"data_model_uri"`
	Objects       []SupportedObject `json:"objects"`
}

type SupportedObject struct {
	Path           string             `json:"path"`
	Access         string             `json:"access"`
	MultiInstance  bool               `json:"multi_instance"`
	Params         []SupportedParam   `json:"params"`
	Commands       []SupportedCommand `json:"commands"`
	Events         []SupportedEvent   `json:"events"`
	DivergentPaths []string           `json:"divergent_paths"`
	UniqueKeySets  [][]string         `json:"unique_key_sets"`
}

type SupportedParam struct {
	Name        string `json:"name"`
	Access      string `json:"access"`
	Type        string `json:"type"`
	ValueChange string `json:"value_change"`
}

type SupportedCommand struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

type SupportedEvent struct {
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

func SupportedDM(r *usp.GetSupportedDMResp) SupportedDMResponse {
	out := SupportedDMResponse{Results: make([]SupportedDMResult, 0, len(r.Results))}
	for _, res := range r.Results {
		sr := SupportedDMResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), DataModelURI: res.DataModelURI,
			Objects: make([]SupportedObject, 0, len(res.Objects))}
		for _, o := range res.Objects {
			so := SupportedObject{
				Path: o.Path, Access: enumName(objAccessNames, o.Access), MultiInstance: o.MultiInstance,
				Params: make([]SupportedParam, 0, len(o.Params)), Commands: make([]SupportedCommand, 0, len(o.Commands)),
				Events: make([]SupportedEvent, 0, len(o.Events)), DivergentPaths: NonNilSlice(o.DivergentPaths),
				UniqueKeySets: make([][]string, 0, len(o.UniqueKeySets)),
			}
			for _, p := range o.Params {
				so.Params = append(so.Params, SupportedParam{Name: p.Name, Access: enumName(paramAccessNames, p.Access),
					Type: enumName(paramTypeNames, p.Type), ValueChange: enumName(valueChangeNames, p.ValueChange)})
			}
			for _, c := range o.Commands {
				so.Commands = append(so.Commands, SupportedCommand{Name: c.Name, Type: enumName(commandTypeNames, c.Type),
					Inputs: NonNilSlice(c.Inputs), Outputs: NonNilSlice(c.Outputs)})
			}
			for _, e := range o.Events {
				so.Events = append(so.Events, SupportedEvent{Name: e.Name, Args: NonNilSlice(e.Args)})
			}
			for _, ks := range o.UniqueKeySets {
				so.UniqueKeySets = append(so.UniqueKeySets, NonNilSlice(ks))
			}
			sr.Objects = append(sr.Objects, so)
		}
		out.Results = append(out.Results, sr)
	}
	return out
}

type SupportedProtocolResponse struct {
	Versions []string `json:"versions"`
}
