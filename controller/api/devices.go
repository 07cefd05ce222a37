package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"cuttle/broker/creds"
	"cuttle/controller/auth"
	"cuttle/devices/inventory"
)

// revokeSettle bounds how long deleting a device with revoke=true waits
// for the broker to report it disconnected, so that the broker's offline
// record does not bring the deleted device back.
const revokeSettle = 5 * time.Second

var deviceListParams = []string{"status", "model", "manufacturer", "software_version", "labels", "q", "sort", "limit", "cursor"}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, deviceListParams)
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	page, err := a.inv.Query(inventory.Query{
		Status: q.Get("status"), Model: q.Get("model"), Manufacturer: q.Get("manufacturer"),
		SoftwareVersion: q.Get("software_version"), Labels: q.Get("labels"), Text: q.Get("q"),
		Sort: q.Get("sort"), Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	if page.Devices == nil {
		page.Devices = []inventory.Device{}
	}
	return WriteJSON(w, http.StatusOK, page)
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	eid := r.PathValue("id")
	d, ok := a.inv.Get(eid)
	if !ok {
		return NotFound("Device %q is not in the inventory.", eid)
	}
	return WriteJSON(w, http.StatusOK, d)
}

type labelsRequest struct {
	Set    map[string]string `json:"set"`
	Remove []string          `json:"remove"`
}

func (a *API) patchLabels(w http.ResponseWriter, r *http.Request) error {
	var req labelsRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Set) == 0 && len(req.Remove) == 0 {
		return Invalid(FieldError{Field: "set", Message: "set or remove at least one label"})
	}
	eid := r.PathValue("id")
	auth.SetAuditSummary(r.Context(), fmt.Sprintf("labels of %s: set %d, removed %d", eid, len(req.Set), len(req.Remove)))
	d, err := a.inv.SetLabels(r.Context(), eid, req.Set, req.Remove)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, d)
}

type deleteDeviceResponse struct {
	EndpointID string `json:"endpoint_id"`
	// CredentialRemoved reports that revoke=true removed the device's
	// broker credential (named by its endpoint ID).
	CredentialRemoved bool `json:"credential_removed"`
}

// deleteDevice forgets a device. With revoke=true (admins only) it first
// removes the device's credential, which makes the broker disconnect it at
// once, so it cannot come back. Without it the device reappears when it
// next connects.
func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, []string{"revoke"})
	if err != nil {
		return err
	}
	revoke := false
	if s := q.Get("revoke"); s != "" {
		if revoke, err = strconv.ParseBool(s); err != nil {
			return Invalid(FieldError{Field: "revoke", Message: fmt.Sprintf("%q is not true or false", s)})
		}
	}
	eid := r.PathValue("id")
	if revoke {
		if t, _ := auth.FromContext(r.Context()); !t.Role.Allows(auth.ActionAdmin) {
			return Forbidden("Role %q may delete devices but not revoke their credentials (admins only).", t.Role)
		}
	}
	d, ok := a.inv.Get(eid)
	if !ok {
		return NotFound("Device %q is not in the inventory.", eid)
	}
	out := deleteDeviceResponse{EndpointID: eid}
	if revoke {
		auth.SetAuditSummary(r.Context(), "deleted device "+eid+" and revoked its credential")
		err := a.creds.Remove(r.Context(), eid)
		switch {
		case err == nil:
			out.CredentialRemoved = true
			if d.Status == inventory.StatusOnline {
				a.awaitOffline(r.Context(), eid)
			}
		case !errors.Is(err, creds.ErrNotFound):
			return fmt.Errorf("removing the credential of %s: %w", eid, err)
		}
	} else {
		auth.SetAuditSummary(r.Context(), "deleted device "+eid)
	}
	if err := a.inv.Delete(r.Context(), eid); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, out)
}

// awaitOffline waits, up to revokeSettle, for the inventory to show eid
// offline after its credential was removed.
func (a *API) awaitOffline(ctx context.Context, eid string) {
	ctx, cancel := context.WithTimeout(ctx, revokeSettle)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if d, ok := a.inv.Get(eid); !ok || d.Status != inventory.StatusOnline {
			return
		}
		select {
		case <-ctx.Done():
			a.log.Warn("revoked device still online in the inventory; deleting it anyway", "endpoint_id", eid)
			return
		case <-tick.C:
		}
	}
}
