package uspjson

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// MaxPaths bounds the paths, objects or parameters of one request, well
// beyond what an operator types and well below what would stall a device.
const MaxPaths = 1000

// FieldError is one field-level validation failure: Field names the field
// as the client wrote it ("paths[1]", "objects[0].params.SSID", "limit",
// the name of a query parameter or a header).
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	// USPCode is the USP error code the value would have earned from a
	// device, such as 7026 for an invalid path.
	USPCode uint32 `json:"usp_code,omitempty"`
}

// Checker collects the field errors of a request as its parts are checked.
// The REST API and bulk jobs each turn Errs into their own error.
type Checker struct {
	Errs []FieldError
}

// Add records a failure of field.
func (c *Checker) Add(field, format string, args ...any) {
	c.Errs = append(c.Errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Path parses p as an instantiated-data-model path of one of the kinds
// allowed, reporting failures under field with the USP code a device
// would have answered with (7026, as agents do).
func (c *Checker) Path(field, p string, kinds ...path.Kind) {
	c.pathWith(path.Parse, field, p, kinds...)
}

// Paths checks a list of paths with Path: at least one, at most MaxPaths.
func (c *Checker) Paths(field string, ps []string, kinds ...path.Kind) {
	c.pathsWith(path.Parse, field, ps, kinds...)
}

// SupportedPaths is Paths for supported-data-model paths ("{i}").
func (c *Checker) SupportedPaths(field string, ps []string, kinds ...path.Kind) {
	c.pathsWith(path.ParseSupported, field, ps, kinds...)
}

func (c *Checker) pathsWith(parse func(string) (*path.Path, error), field string, ps []string, kinds ...path.Kind) {
	c.Count(field, len(ps))
	for i, p := range ps {
		c.pathWith(parse, fmt.Sprintf("%s[%d]", field, i), p, kinds...)
	}
}

func (c *Checker) pathWith(parse func(string) (*path.Path, error), field, p string, kinds ...path.Kind) {
	if p == "" {
		c.Add(field, "a path is required")
		return
	}
	parsed, err := parse(p)
	if err != nil {
		e := usperr.As(err)
		c.Errs = append(c.Errs, FieldError{Field: field, Message: e.Msg, USPCode: uint32(e.Code)})
		return
	}
	if !slices.Contains(kinds, parsed.Kind()) {
		want := make([]string, len(kinds))
		for i, k := range kinds {
			want[i] = k.String()
		}
		c.Errs = append(c.Errs, FieldError{Field: field, USPCode: uint32(usperr.InvalidPath),
			Message: fmt.Sprintf("%s is a %s path; this request takes %s paths", p, parsed.Kind(), strings.Join(want, " or "))})
	}
}

// Count checks a list's length: at least one, at most MaxPaths.
func (c *Checker) Count(field string, n int) {
	if n == 0 {
		c.Add(field, "at least one is required")
	}
	c.Max(field, n)
}

// Max checks that a list or map has at most MaxPaths members.
func (c *Checker) Max(field string, n int) {
	if n > MaxPaths {
		c.Add(field, "at most %d are allowed", MaxPaths)
	}
}

// Params checks the parameter names and required flags of the object at
// field and returns its settings in name order, so that the same body
// always makes the same request.
func (c *Checker) Params(field string, params map[string]string, required []string) []usp.Param {
	names := slices.Sorted(maps.Keys(params))
	out := make([]usp.Param, 0, len(names))
	for _, n := range names {
		if !path.IsRelativeParamName(n) {
			c.Add(field+".params."+n, "not a parameter name relative to the object (such as Enable or Stats.BytesSent)")
		}
		out = append(out, usp.Param{Name: n, Value: params[n], Required: slices.Contains(required, n)})
	}
	for i, n := range required {
		if _, ok := params[n]; !ok {
			c.Add(fmt.Sprintf("%s.required[%d]", field, i), "%q is not in params", n)
		}
	}
	return out
}

// FirstUSPError is the USP Error of the first path at fault among errs,
// as a device would have answered; nil when no path is.
func FirstUSPError(errs []FieldError) *usperr.Error {
	for _, f := range errs {
		if f.USPCode != 0 {
			return &usperr.Error{Code: usperr.Code(f.USPCode), Msg: f.Message}
		}
	}
	return nil
}
