package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// The JSON forms of USP responses in a Result. They are the per-device
// API's (controller/api/uspjson.go), field for field, so that a script
// reads a job's result for a device as it reads that device's own answer:
// USP's structure (requested path → resolved paths → parameters, every
// failure with its code) plus flat "values" maps by full path. Arrays and
// maps are never null; "error" is null on success. The API's package
// imports this one, so the forms cannot be shared the other way round; if
// one changes, change both.

// USPError is a USP failure: a whole result's, a parameter's (param set)
// or an instance's (path set).
type USPError struct {
	Param   string `json:"param,omitempty"`
	Path    string `json:"path,omitempty"`
	Code    uint32 `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

func uspErr(e *usperr.Error) *USPError {
	if e == nil {
		return nil
	}
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Meaning()
	}
	return &USPError{Code: uint32(e.Code), Name: e.Code.Name(), Message: msg}
}

func paramErrs(errs []*usperr.Error) []USPError {
	out := make([]USPError, 0, len(errs))
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
	Results []getResult       `json:"results"`
	Values  map[string]string `json:"values"`
}

type getResult struct {
	RequestedPath string         `json:"requested_path"`
	Error         *USPError      `json:"error"`
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
	Results []setResult       `json:"results"`
	Values  map[string]string `json:"values"`
}

type setResult struct {
	RequestedPath string            `json:"requested_path"`
	Error         *USPError         `json:"error"`
	Updated       []updatedInstance `json:"updated"`
	Failed        []failedInstance  `json:"failed"`
}

type updatedInstance struct {
	Path        string            `json:"path"`
	Params      map[string]string `json:"params"`
	ParamErrors []USPError        `json:"param_errors"`
}

type failedInstance struct {
	Path        string     `json:"path"`
	ParamErrors []USPError `json:"param_errors"`
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
	Error            *USPError         `json:"error"`
	InstantiatedPath string            `json:"instantiated_path"`
	UniqueKeys       map[string]string `json:"unique_keys"`
	ParamErrors      []USPError        `json:"param_errors"`
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
	RequestedPath string     `json:"requested_path"`
	Error         *USPError  `json:"error"`
	Affected      []string   `json:"affected"`
	Unaffected    []USPError `json:"unaffected"`
}

func deleteJSON(r *usp.DeleteResp) deleteResponse {
	out := deleteResponse{Results: make([]deleteResult, 0, len(r.Results))}
	for _, res := range r.Results {
		d := deleteResult{RequestedPath: res.RequestedPath, Error: uspErr(res.Err), Affected: nonNilSlice(res.Affected),
			Unaffected: make([]USPError, 0, len(res.Unaffected))}
		for _, e := range res.Unaffected {
			x := uspErr(e)
			x.Path = e.Path
			d.Unaffected = append(d.Unaffected, *x)
		}
		out.Results = append(out.Results, d)
	}
	return out
}

// Statuses of an executed command in an Operate result, as the API's.
const (
	opCompleted = "completed"
	opFailed    = "failed"
	opStarted   = "started"
)

type operateResponse struct {
	CommandKey string          `json:"command_key"`
	Results    []operateResult `json:"results"`
}

type operateResult struct {
	Command     string            `json:"command"`
	Status      string            `json:"status"`
	RequestPath string            `json:"request_path,omitempty"`
	Output      map[string]string `json:"output"`
	Error       *USPError         `json:"error"`
}

func operateJSON(key string, r *usp.OperateResp) operateResponse {
	out := operateResponse{CommandKey: key, Results: make([]operateResult, 0, len(r.Results))}
	for _, res := range r.Results {
		or := operateResult{Command: res.Command, RequestPath: res.RequestPath, Error: uspErr(res.Err)}
		switch {
		case res.Err != nil:
			or.Status = opFailed
		case res.Async():
			or.Status = opStarted
		default:
			or.Status, or.Output = opCompleted, nonNilMap(res.Output)
		}
		out.Results = append(out.Results, or)
	}
	return out
}

type instancesResponse struct {
	Results []instancesResult `json:"results"`
}

type instancesResult struct {
	RequestedPath string     `json:"requested_path"`
	Error         *USPError  `json:"error"`
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

type supportedProtocolResponse struct {
	Versions []string `json:"versions"`
}

// responseJSON encodes a device's response and returns the first per-path
// failure it carries, if any: a response with failures is the device's
// answer, but not a success.
func responseJSON(req usp.Body, body usp.Body) (json.RawMessage, *usperr.Error, error) {
	var v any
	var failed error
	switch r := body.(type) {
	case *usp.GetResp:
		v, failed = getJSON(r), r.Err()
	case *usp.SetResp:
		v, failed = setJSON(r), r.Err()
	case *usp.AddResp:
		v, failed = addJSON(r), r.Err()
	case *usp.DeleteResp:
		v, failed = deleteJSON(r), r.Err()
	case *usp.OperateResp:
		key := ""
		if op, ok := req.(*usp.Operate); ok {
			key = op.CommandKey
		}
		v, failed = operateJSON(key, r), r.Err()
	case *usp.GetInstancesResp:
		v = instancesJSON(r)
		for _, res := range r.Results {
			if res.Err != nil && failed == nil {
				failed = res.Err
			}
		}
	case *usp.GetSupportedProtocolResp:
		v = supportedProtocolResponse{Versions: nonNilSlice(r.Versions)}
	default:
		return nil, nil, fmt.Errorf("no JSON form for %T", body)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	var first *usperr.Error
	if failed != nil {
		errors.As(failed, &first)
	}
	return b, first, nil
}
