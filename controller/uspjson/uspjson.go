// Package uspjson is the JSON form of USP requests and responses shared by
// the REST API and bulk jobs, so that a request is written, checked and
// answered the same whichever way it goes to a device.
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
	return each(errs, func(e *usperr.Error) Error {
		x := FromError(e)
		x.Param = e.Path
		return *x
	})
}

// each converts every member of in with f, into a list that is never nil.
func each[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

// NonNilMap returns m, or an empty map for nil, so that JSON has {} and
// not null.
func NonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// NonNilSlice returns s, or an empty slice for nil, so that JSON has []
// and not null.
func NonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// GetResponse is the JSON form of a GetResp.
type GetResponse struct {
	Results []GetResult `json:"results"`
	// Values maps every parameter returned to its value, by full path.
	Values map[string]string `json:"values"`
}

// GetResult is the outcome for one requested path of a Get.
type GetResult struct {
	RequestedPath string         `json:"requested_path"`
	Error         *Error         `json:"error"`
	Resolved      []ResolvedPath `json:"resolved"`
}

// ResolvedPath is an object a Get path resolved to, with its parameters
// by relative name.
type ResolvedPath struct {
	Path   string            `json:"path"`
	Params map[string]string `json:"params"`
}

// Get converts a GetResp.
func Get(r *usp.GetResp) GetResponse {
	return GetResponse{Values: r.Values(), Results: each(r.Results, func(res usp.GetResult) GetResult {
		return GetResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err),
			Resolved: each(res.Resolved, func(rp usp.ResolvedPath) ResolvedPath {
				return ResolvedPath{Path: rp.Path, Params: NonNilMap(rp.Params)}
			})}
	})}
}

// SetResponse is the JSON form of a SetResp.
type SetResponse struct {
	Results []SetResult `json:"results"`
	// Values maps every parameter the device changed to its new value, by
	// full path.
	Values map[string]string `json:"values"`
}

// SetResult is the outcome for one object of a Set.
type SetResult struct {
	RequestedPath string `json:"requested_path"`
	Error         *Error `json:"error"`
	// Updated lists the instances changed (success); Failed the instances
	// that could not be, with their parameter errors (failure).
	Updated []UpdatedInstance `json:"updated"`
	Failed  []FailedInstance  `json:"failed"`
}

// UpdatedInstance is an instance a Set changed, with the non-required
// parameters it could not.
type UpdatedInstance struct {
	Path        string            `json:"path"`
	Params      map[string]string `json:"params"`
	ParamErrors []Error           `json:"param_errors"`
}

// FailedInstance is an instance a Set could not change.
type FailedInstance struct {
	Path        string  `json:"path"`
	ParamErrors []Error `json:"param_errors"`
}

// Set converts a SetResp.
func Set(r *usp.SetResp) SetResponse {
	out := SetResponse{Results: make([]SetResult, 0, len(r.Results)), Values: map[string]string{}}
	out.Results = each(r.Results, func(res usp.SetResult) SetResult {
		return SetResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err),
			Updated: each(res.Updated, func(u usp.UpdatedInstance) UpdatedInstance {
				for k, v := range u.Params {
					out.Values[u.Path+k] = v
				}
				return UpdatedInstance{Path: u.Path, Params: NonNilMap(u.Params), ParamErrors: ParamErrors(u.ParamErrs)}
			}),
			Failed: each(res.Failed, func(f usp.InstanceErrors) FailedInstance {
				return FailedInstance{Path: f.Path, ParamErrors: ParamErrors(f.Params)}
			})}
	})
	return out
}

// AddResponse is the JSON form of an AddResp.
type AddResponse struct {
	Results []AddResult `json:"results"`
}

// AddResult is the outcome for one object of an Add.
type AddResult struct {
	RequestedPath    string            `json:"requested_path"`
	Error            *Error            `json:"error"`
	InstantiatedPath string            `json:"instantiated_path"`
	UniqueKeys       map[string]string `json:"unique_keys"`
	ParamErrors      []Error           `json:"param_errors"`
}

// Add converts an AddResp.
func Add(r *usp.AddResp) AddResponse {
	return AddResponse{Results: each(r.Results, func(res usp.AddResult) AddResult {
		return AddResult{
			RequestedPath: res.RequestedPath, Error: FromError(res.Err), InstantiatedPath: res.InstantiatedPath,
			UniqueKeys: NonNilMap(maps.Clone(res.UniqueKeys)), ParamErrors: ParamErrors(res.ParamErrs),
		}
	})}
}

// DeleteResponse is the JSON form of a DeleteResp.
type DeleteResponse struct {
	Results []DeleteResult `json:"results"`
}

// DeleteResult is the outcome for one path of a Delete.
type DeleteResult struct {
	RequestedPath string   `json:"requested_path"`
	Error         *Error   `json:"error"`
	Affected      []string `json:"affected"`
	// Unaffected lists instances the path matched that could not be
	// deleted.
	Unaffected []Error `json:"unaffected"`
}

// Delete converts a DeleteResp.
func Delete(r *usp.DeleteResp) DeleteResponse {
	return DeleteResponse{Results: each(r.Results, func(res usp.DeleteResult) DeleteResult {
		return DeleteResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), Affected: NonNilSlice(res.Affected),
			Unaffected: each(res.Unaffected, func(e *usperr.Error) Error {
				x := FromError(e)
				x.Path = e.Path
				return *x
			})}
	})}
}

// InstancesResponse is the JSON form of a GetInstancesResp.
type InstancesResponse struct {
	Results []InstancesResult `json:"results"`
}

// InstancesResult is the outcome for one path of a GetInstances.
type InstancesResult struct {
	RequestedPath string     `json:"requested_path"`
	Error         *Error     `json:"error"`
	Instances     []Instance `json:"instances"`
}

// Instance is an object instance and its unique keys.
type Instance struct {
	Path       string            `json:"path"`
	UniqueKeys map[string]string `json:"unique_keys"`
}

// Instances converts a GetInstancesResp.
func Instances(r *usp.GetInstancesResp) InstancesResponse {
	return InstancesResponse{Results: each(r.Results, func(res usp.InstancesResult) InstancesResult {
		return InstancesResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err),
			Instances: each(res.Instances, func(in usp.Instance) Instance {
				return Instance{Path: in.Path, UniqueKeys: NonNilMap(in.UniqueKeys)}
			})}
	})}
}

// SupportedDMResponse is the JSON form of a GetSupportedDMResp.
type SupportedDMResponse struct {
	Results []SupportedDMResult `json:"results"`
}

// SupportedDMResult is the outcome for one path of a GetSupportedDM.
type SupportedDMResult struct {
	RequestedPath string            `json:"requested_path"`
	Error         *Error            `json:"error"`
	DataModelURI  string            `json:"data_model_uri"`
	Objects       []SupportedObject `json:"objects"`
}

// SupportedObject is a supported object, its path in supported-data-model
// form ("{i}").
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

// SupportedParam is a supported parameter.
type SupportedParam struct {
	Name        string `json:"name"`
	Access      string `json:"access"`
	Type        string `json:"type"`
	ValueChange string `json:"value_change"`
}

// SupportedCommand is a supported command, with its argument names.
type SupportedCommand struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

// SupportedEvent is a supported event, with its argument names.
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

// SupportedDM converts a GetSupportedDMResp.
func SupportedDM(r *usp.GetSupportedDMResp) SupportedDMResponse {
	return SupportedDMResponse{Results: each(r.Results, func(res usp.SupportedDMResult) SupportedDMResult {
		return SupportedDMResult{RequestedPath: res.RequestedPath, Error: FromError(res.Err), DataModelURI: res.DataModelURI,
			Objects: each(res.Objects, supportedObject)}
	})}
}

func supportedObject(o usp.SupportedObject) SupportedObject {
	return SupportedObject{
		Path: o.Path, Access: enumName(objAccessNames, o.Access), MultiInstance: o.MultiInstance,
		Params: each(o.Params, func(p usp.SupportedParam) SupportedParam {
			return SupportedParam{Name: p.Name, Access: enumName(paramAccessNames, p.Access),
				Type: enumName(paramTypeNames, p.Type), ValueChange: enumName(valueChangeNames, p.ValueChange)}
		}),
		Commands: each(o.Commands, func(c usp.SupportedCommand) SupportedCommand {
			return SupportedCommand{Name: c.Name, Type: enumName(commandTypeNames, c.Type),
				Inputs: NonNilSlice(c.Inputs), Outputs: NonNilSlice(c.Outputs)}
		}),
		Events: each(o.Events, func(e usp.SupportedEvent) SupportedEvent {
			return SupportedEvent{Name: e.Name, Args: NonNilSlice(e.Args)}
		}),
		DivergentPaths: NonNilSlice(o.DivergentPaths),
		UniqueKeySets:  each(o.UniqueKeySets, NonNilSlice[string]),
	}
}

// SupportedProtocolResponse is the JSON form of a GetSupportedProtocolResp.
type SupportedProtocolResponse struct {
	Versions []string `json:"versions"`
}

// Response is the JSON form of resp, a device's answer to req (whose
// command key an Operate's answer repeats), or false for a body that is
// not the answer to a request this package has a form for.
func Response(req, resp usp.Body) (any, bool) {
	switch r := resp.(type) {
	case *usp.GetResp:
		return Get(r), true
	case *usp.SetResp:
		return Set(r), true
	case *usp.AddResp:
		return Add(r), true
	case *usp.DeleteResp:
		return Delete(r), true
	case *usp.OperateResp:
		key := ""
		if op, ok := req.(*usp.Operate); ok {
			key = op.CommandKey
		}
		return Operate(key, r), true
	case *usp.GetInstancesResp:
		return Instances(r), true
	case *usp.GetSupportedDMResp:
		return SupportedDM(r), true
	case *usp.GetSupportedProtocolResp:
		return SupportedProtocolResponse{Versions: NonNilSlice(r.Versions)}, true
	}
	return nil, false
}
