package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"cuttle/controller/auth"
	"cuttle/controller/httpapi"
	"cuttle/controller/uspjson"
	"cuttle/devices/inventory"
	"cuttle/usp"
)

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
		return inventory.Device{}, &Error{Status: http.StatusServiceUnavailable, Type: httpapi.TypeDeviceUnreachable,
			Title: "The device cannot be reached", Detail: fmt.Sprintf("Device %q is offline%s.", eid, since)}
	}
	return d, nil
}

// invalidFields returns the problem for the field errors of a request, or
// nil. When a path is at fault the problem also carries its USP code at
// the top, as a device's Error would.
func invalidFields(errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	e := Invalid(errs...)
	e.USP = uspjson.FirstUSPError(errs)
	return e
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

// uspRoute is the handler of a per-device route for one USP request: it
// decodes and checks a body of type Q, sends the request to the
// device the route names, and answers with the JSON of the device's
// response. Requests that change the device (set, add, delete) note in the
// audit log which paths they change.
func uspRoute[Q any, R interface {
	*Q
	uspjson.Request
}](a *API, op string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		req := R(new(Q))
		if err := DecodeJSON(r, req); err != nil {
			return err
		}
		var c uspjson.Checker
		body := req.Build(&c)
		if err := invalidFields(c.Errs); err != nil {
			return err
		}
		d, err := a.device(r)
		if err != nil {
			return err
		}
		if paths := changedPaths(body); paths != nil {
			auth.SetAuditSummary(r.Context(), uspSummary(op, d.EndpointID, paths))
		}
		resp, err := a.mtp.Do(r.Context(), d.EndpointID, body)
		if err != nil {
			return err
		}
		v, ok := uspjson.Response(body, resp.Body)
		if !ok {
			return fmt.Errorf("%s: no JSON form for %T", op, resp.Body)
		}
		return WriteJSON(w, http.StatusOK, v)
	}
}

// changedPaths lists what a request changes, for the audit log: each
// parameter a Set sets, the tables an Add adds to, the objects a Delete
// deletes; nil for a request that only reads.
func changedPaths(body usp.Body) []string {
	var paths []string
	switch b := body.(type) {
	case *usp.Set:
		for _, o := range b.Objects {
			for _, p := range o.Params {
				paths = append(paths, o.Path+p.Name)
			}
		}
	case *usp.Add:
		for _, o := range b.Objects {
			paths = append(paths, o.Path)
		}
	case *usp.Delete:
		paths = b.Paths
	}
	return paths
}
