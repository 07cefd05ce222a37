package uspjson

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"cuttle/usp"
	"cuttle/usp/path"
)

// The JSON forms of USP requests: the bodies of the REST API's per-device
// routes (POST /api/v1/devices/{id}/<operation>), which a bulk job's
// request repeats. Build checks a body into c, naming each failure by its
// field in the body ("paths[1]"), and returns the USP request; the request
// is only to be sent when c has no errors. Operate's body differs between
// the API and jobs (waiting for completions), so each keeps its own.

// Request is the body of a USP operation.
type Request interface {
	// Build checks the body into c and returns its USP request.
	Build(c *Checker) usp.Body
}

// GetRequest reads parameters: {"paths": [...], "max_depth": 0}.
type GetRequest struct {
	Paths    []string `json:"paths"`
	MaxDepth uint32   `json:"max_depth,omitempty"`
}

// Build checks r and returns its Get.
func (r *GetRequest) Build(c *Checker) usp.Body {
	c.Paths("paths", r.Paths, path.Object, path.Parameter)
	return usp.NewGet(r.MaxDepth, r.Paths...)
}

// SetRequest changes parameters:
// {"allow_partial": false, "objects": [{"path", "params", "required"}]}.
type SetRequest struct {
	AllowPartial bool           `json:"allow_partial,omitempty"`
	Objects      []ObjectParams `json:"objects"`
}

// ObjectParams is one object of a Set or Add: its parameters by relative
// name, and which of them must succeed for the object to be changed at
// all.
type ObjectParams struct {
	Path     string            `json:"path"`
	Params   map[string]string `json:"params,omitempty"`
	Required []string          `json:"required,omitempty"`
}

// Build checks r and returns its Set.
func (r *SetRequest) Build(c *Checker) usp.Body {
	return usp.NewSet(r.AllowPartial, objects[usp.SetObject](c, r.Objects, true)...)
}

// objects checks the objects of a Set or an Add (whose objects may have no
// parameters) and returns them, in the request's order.
func objects[O ~struct {
	Path   string
	Params []usp.Param
}](c *Checker, objs []ObjectParams, needParams bool) []O {
	c.Count("objects", len(objs))
	out := make([]O, 0, len(objs))
	for i, o := range objs {
		field := fmt.Sprintf("objects[%d]", i)
		c.Path(field+".path", o.Path, path.Object)
		if needParams {
			c.Count(field+".params", len(o.Params))
		} else {
			c.Max(field+".params", len(o.Params))
		}
		out = append(out, O{Path: o.Path, Params: c.Params(field, o.Params, o.Required)})
	}
	return out
}

// AddRequest creates instances, with the same shape as SetRequest; each
// object's path is a table and its params may be empty.
type AddRequest struct {
	AllowPartial bool           `json:"allow_partial,omitempty"`
	Objects      []ObjectParams `json:"objects"`
}

// Build checks r and returns its Add.
func (r *AddRequest) Build(c *Checker) usp.Body {
	return usp.NewAdd(r.AllowPartial, objects[usp.AddObject](c, r.Objects, false)...)
}

// DeleteRequest removes instances: {"allow_partial": false, "paths": [...]}.
type DeleteRequest struct {
	AllowPartial bool     `json:"allow_partial,omitempty"`
	Paths        []string `json:"paths"`
}

// Build checks r and returns its Delete.
func (r *DeleteRequest) Build(c *Checker) usp.Body {
	c.Paths("paths", r.Paths, path.Object)
	return usp.NewDelete(r.AllowPartial, r.Paths...)
}

// InstancesRequest lists instances: {"paths": [...], "first_level_only": false}.
type InstancesRequest struct {
	Paths          []string `json:"paths"`
	FirstLevelOnly bool     `json:"first_level_only,omitempty"`
}

// Build checks r and returns its GetInstances.
func (r *InstancesRequest) Build(c *Checker) usp.Body {
	c.Paths("paths", r.Paths, path.Object)
	return usp.NewGetInstances(r.FirstLevelOnly, r.Paths...)
}

// SupportedDMRequest asks for the supported data model under
// supported-data-model paths ("Device.WiFi.SSID.{i}.").
type SupportedDMRequest struct {
	Paths               []string `json:"paths"`
	FirstLevelOnly      bool     `json:"first_level_only,omitempty"`
	ReturnCommands      bool     `json:"return_commands,omitempty"`
	ReturnEvents        bool     `json:"return_events,omitempty"`
	ReturnParams        bool     `json:"return_params,omitempty"`
	ReturnUniqueKeySets bool     `json:"return_unique_key_sets,omitempty"`
}

// Build checks r and returns its GetSupportedDM.
func (r *SupportedDMRequest) Build(c *Checker) usp.Body {
	c.SupportedPaths("paths", r.Paths, path.Object)
	return &usp.GetSupportedDM{
		Paths: r.Paths, FirstLevelOnly: r.FirstLevelOnly, ReturnCommands: r.ReturnCommands,
		ReturnEvents: r.ReturnEvents, ReturnParams: r.ReturnParams, ReturnUniqueKeySets: r.ReturnUniqueKeySets,
	}
}

// SupportedProtocolRequest asks which USP versions a device speaks; its
// body is {}.
type SupportedProtocolRequest struct{}

// Build returns the GetSupportedProtocol offering every version Cuttle
// speaks.
func (*SupportedProtocolRequest) Build(*Checker) usp.Body {
	return usp.NewGetSupportedProtocol(usp.SupportedVersions...)
}

// Duration is a JSON duration: a string such as "90s" or "720h", or a
// number of seconds. It marshals as a string.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	// Failures are *json.UnmarshalTypeError, which encoding/json completes
	// with the field's name, so the error can name it.
	bad := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return bad
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil || math.IsNaN(secs) || math.IsInf(secs*1e9, 0) || math.Abs(secs) > math.MaxInt64/1e9 {
		return bad
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}
