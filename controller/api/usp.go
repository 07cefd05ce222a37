package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"cuttle/controller/auth"
	"cuttle/devices/inventory"
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// maxPaths bounds the paths, objects or parameters of one request, well
// beyond what an operator types and well below what would stall a device.
const maxPaths = 1000

// device returns the device a per-device route names, or the problem to
// answer: 404 for one the inventory does not know, 503 for one it knows is
// offline (a request would only wait for the timeout).
func (a *API) device(r *http.Request) (inventory.Device, error) {
	eid := r.PathValue("id")
	d, ok := a.inv.Get(eid)
	if !ok {
		return inventory.Device{}, NotFound("Device %q is not in the inventory.", eid)
	}
	if d.Status != inventory.StatusOnline {
		since := ""
		if !d.StatusSince.IsZero() {
			since = " since " + d.StatusSince.UTC().Format(time.RFC3339)
		}
		return inventory.Device{}, &Error{Status: http.StatusServiceUnavailable, Type: TypeDeviceUnreachable,
			Title: "The device cannot be reached", Detail: fmt.Sprintf("Device %q is offline%s.", eid, since)}
	}
	return d, nil
}

// pathChecker collects the field errors of the USP paths in a request.
type pathChecker struct{ errs []FieldError }

// check parses p as an instantiated-data-model path of one of the kinds
// allowed, reporting failures under field with the USP code a device
// would have answered with (7026, as agents do).
func (c *pathChecker) check(field, p string, kinds ...path.Kind) {
	c.checkWith(path.Parse, field, p, kinds...)
}

// checkSupported is check for supported-data-model paths ("{i}").
func (c *pathChecker) checkSupported(field, p string, kinds ...path.Kind) {
	c.checkWith(path.ParseSupported, field, p, kinds...)
}

func (c *pathChecker) checkWith(parse func(string) (*path.Path, error), field, p string, kinds ...path.Kind) {
	if p == "" {
		c.errs = append(c.errs, FieldError{Field: field, Message: "a path is required"})
		return
	}
	parsed, err := parse(p)
	if err != nil {
		e := usperr.As(err)
		c.errs = append(c.errs, FieldError{Field: field, Message: e.Msg, USPCode: uint32(e.Code)})
		return
	}
	if !slices.Contains(kinds, parsed.Kind()) {
		var want []string
		for _, k := range kinds {
			want = append(want, k.String())
		}
		c.errs = append(c.errs, FieldError{Field: field, USPCode: uint32(usperr.InvalidPath),
			Message: fmt.Sprintf("%s is a %s path; this request takes %s paths", p, parsed.Kind(), strings.Join(want, " or "))})
	}
}

func (c *pathChecker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// count checks a list's length.
func (c *pathChecker) count(field string, n int) {
	switch {
	case n == 0:
		c.add(field, "at least one is required")
	case n > maxPaths:
		c.add(field, "at most %d are allowed", maxPaths)
	}
}

// err returns the problem for the errors found, or nil. When a path is at
// fault the problem also carries its USP code at the top, as a device's
// Error would.
func (c *pathChecker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	e := Invalid(c.errs...)
	for _, f := range c.errs {
		if f.USPCode != 0 {
			e.USP = &usperr.Error{Code: usperr.Code(f.USPCode), Msg: f.Message}
			break
		}
	}
	return e
}

// params checks parameter names and required flags and returns the
// settings in name order.
func (c *pathChecker) params(field string, params map[string]string, required []string) []usp.Param {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range params {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]usp.Param, 0, len(names))
	for _, n := range names {
		if !path.IsRelativeParamName(n) {
			c.add(field+".params."+n, "not a parameter name relative to the object (such as Enable or Stats.BytesSent)")
		}
		out = append(out, usp.Param{Name: n, Value: params[n], Required: slices.Contains(required, n)})
	}
	for i, n := range required {
		if _, ok := params[n]; !ok {
			c.add(fmt.Sprintf("%s.required[%d]", field, i), "%q is not in params", n)
		}
	}
	return out
}

// uspSummary is the audit summary of a USP request: what it did to which
// paths of which device.
func uspSummary(op, eid string, paths []string) string {
	const show = 3
	s := op + " " + strings.Join(paths[:min(len(paths), show)], ", ")
	if len(paths) > show {
		s += fmt.Sprintf(" and %d more", len(paths)-show)
	}
	return s + " on " + eid
}

type getRequest struct {
	Paths    []string `json:"paths"`
	MaxDepth uint32   `json:"max_depth"`
}

func (a *API) uspGet(w http.ResponseWriter, r *http.Request) error {
	var req getRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.count("paths", len(req.Paths))
	for i, p := range req.Paths {
		c.check(fmt.Sprintf("paths[%d]", i), p, path.Object, path.Parameter)
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	resp, err := a.mtp.Get(r.Context(), d.EndpointID, usp.NewGet(req.MaxDepth, req.Paths...))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, getJSON(resp))
}

type setRequest struct {
	AllowPartial bool        `json:"allow_partial"`
	Objects      []setObject `json:"objects"`
}

// setObject is one object to update: its parameters by name, and which of
// them must succeed for the object to be updated at all.
type setObject struct {
	Path     string            `json:"path"`
	Params   map[string]string `json:"params"`
	Required []string          `json:"required"`
}

func (a *API) uspSet(w http.ResponseWriter, r *http.Request) error {
	var req setRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.count("objects", len(req.Objects))
	set := &usp.Set{AllowPartial: req.AllowPartial}
	var paths []string
	for i, o := range req.Objects {
		field := fmt.Sprintf("objects[%d]", i)
		c.check(field+".path", o.Path, path.Object)
		c.count(field+".params", len(o.Params))
		set.Objects = append(set.Objects, usp.SetObject{Path: o.Path, Params: c.params(field, o.Params, o.Required)})
		for _, p := range set.Objects[i].Params {
			paths = append(paths, o.Path+p.Name)
		}
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), uspSummary("set", d.EndpointID, paths))
	resp, err := a.mtp.Set(r.Context(), d.EndpointID, set)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, setJSON(resp))
}

type addRequest struct {
	AllowPartial bool        `json:"allow_partial"`
	Objects      []addObject `json:"objects"`
}

// addObject is one instance to create in the table Path.
type addObject struct {
	Path     string            `json:"path"`
	Params   map[string]string `json:"params"`
	Required []string          `json:"required"`
}

func (a *API) uspAdd(w http.ResponseWriter, r *http.Request) error {
	var req addRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.count("objects", len(req.Objects))
	add := &usp.Add{AllowPartial: req.AllowPartial}
	var paths []string
	for i, o := range req.Objects {
		field := fmt.Sprintf("objects[%d]", i)
		c.check(field+".path", o.Path, path.Object)
		add.Objects = append(add.Objects, usp.AddObject{Path: o.Path, Params: c.params(field, o.Params, o.Required)})
		paths = append(paths, o.Path)
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), uspSummary("add", d.EndpointID, paths))
	resp, err := a.mtp.Add(r.Context(), d.EndpointID, add)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, addJSON(resp))
}

type deleteRequest struct {
	AllowPartial bool     `json:"allow_partial"`
	Paths        []string `json:"paths"`
}

func (a *API) uspDelete(w http.ResponseWriter, r *http.Request) error {
	var req deleteRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.count("paths", len(req.Paths))
	for i, p := range req.Paths {
		c.check(fmt.Sprintf("paths[%d]", i), p, path.Object)
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), uspSummary("delete", d.EndpointID, req.Paths))
	resp, err := a.mtp.Delete(r.Context(), d.EndpointID, usp.NewDelete(req.AllowPartial, req.Paths...))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, deleteJSON(resp))
}

type instancesRequest struct {
	Paths          []string `json:"paths"`
	FirstLevelOnly bool     `json:"first_level_only"`
}

func (a *API) uspInstances(w http.ResponseWriter, r *http.Request) error {
	var req instancesRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.count("paths", len(req.Paths))
	for i, p := range req.Paths {
		c.check(fmt.Sprintf("paths[%d]", i), p, path.Object)
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	resp, err := a.mtp.GetInstances(r.Context(), d.EndpointID, usp.NewGetInstances(req.FirstLevelOnly, req.Paths...))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, instancesJSON(resp))
}

type supportedDMRequest struct {
	Paths               []string `json:"paths"`
	FirstLevelOnly      bool     `json:"first_level_only"`
	ReturnCommands      bool     `json:"return_commands"`
	ReturnEvents        bool     `json:"return_events"`
	ReturnParams        bool     `json:"return_params"`
	ReturnUniqueKeySets bool     `json:"return_unique_key_sets"`
}

func (a *API) uspSupportedDM(w http.ResponseWriter, r *http.Request) error {
	var req supportedDMRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var c pathChecker
	c.count("paths", len(req.Paths))
	for i, p := range req.Paths {
		c.checkSupported(fmt.Sprintf("paths[%d]", i), p, path.Object)
	}
	if err := c.err(); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	resp, err := a.mtp.GetSupportedDM(r.Context(), d.EndpointID, &usp.GetSupportedDM{
		Paths: req.Paths, FirstLevelOnly: req.FirstLevelOnly, ReturnCommands: req.ReturnCommands,
		ReturnEvents: req.ReturnEvents, ReturnParams: req.ReturnParams, ReturnUniqueKeySets: req.ReturnUniqueKeySets,
	})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, supportedDMJSON(resp))
}

func (a *API) uspSupportedProtocol(w http.ResponseWriter, r *http.Request) error {
	var req struct{}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	d, err := a.device(r)
	if err != nil {
		return err
	}
	resp, err := a.mtp.GetSupportedProtocol(r.Context(), d.EndpointID, usp.NewGetSupportedProtocol(usp.SupportedVersions...))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, supportedProtocolResponse{Versions: nonNilSlice(resp.Versions)})
}
