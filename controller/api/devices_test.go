package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"cuttle/controller/auth"
	"cuttle/devices/inventory"
)

func TestDevices(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2, dev3}})

	t.Run("list", func(t *testing.T) {
		var page inventory.Page
		r := e.call(request{method: "GET", path: "/api/v1/devices", token: e.tokens[auth.RoleViewer]}, http.StatusOK, &page)
		if page.Total != 3 || len(page.Devices) != 3 || page.Next != "" {
			t.Fatalf("got %d of %d devices, next %q; want all 3", len(page.Devices), page.Total, page.Next)
		}
		for i, want := range []string{dev1, dev2, dev3} {
			d := page.Devices[i]
			if d.EndpointID != want || d.Status != inventory.StatusOnline || d.Model != "CL-HG4000" ||
				d.Manufacturer != "Cuttle Labs" || d.SoftwareVersion == "" || d.LastSeen.IsZero() {
				t.Errorf("device %d = %+v, want %s online with its DeviceInfo", i, d, want)
			}
		}
		// The CLI's contract: these members are always there, labels as {}.
		var raw struct {
			Devices []map[string]json.RawMessage `json:"devices"`
		}
		if err := json.Unmarshal(r.body, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"endpoint_id", "status", "last_seen", "manufacturer", "model", "software_version", "labels"} {
			if _, ok := raw.Devices[0][k]; !ok {
				t.Errorf("device object lacks %q: %s", k, r.body)
			}
		}
		if got := string(raw.Devices[0]["labels"]); got != "{}" {
			t.Errorf("labels = %s, want {}", got)
		}
	})

	t.Run("filter", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"status=online", []string{dev1, dev2, dev3}},
			{"status=offline", nil},
			{"model=CL-HG4000&manufacturer=Cuttle+Labs", []string{dev1, dev2, dev3}},
			{"model=nope", nil},
			{"q=012345-0002", []string{dev2}},
			{"sort=-endpoint_id&limit=2", []string{dev3, dev2}},
		} {
			var page inventory.Page
			e.call(request{method: "GET", path: "/api/v1/devices?" + tc.query}, http.StatusOK, &page)
			var got []string
			for _, d := range page.Devices {
				got = append(got, d.EndpointID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("?%s: got %v, want %v", tc.query, got, tc.want)
			}
		}
	})

	t.Run("bad filters", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"status=sleeping", "status"},
			{"sort=colour", "sort"},
			{"limit=many", "limit"},
			{"limit=5000", "limit"},
			{"cursor=garbage", "cursor"},
			{"labels=%3Dx", "labels"},
			{"stauts=online", "stauts"},
		} {
			r := e.do(request{method: "GET", path: "/api/v1/devices?" + tc.query, token: e.tokens[auth.RoleViewer]})
			p := wantProblem(t, r, http.StatusBadRequest, "invalid-request")
			if len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("?%s: field errors %s, want one for %q", tc.query, r.body, tc.field)
			}
		}
	})

	t.Run("paginate", func(t *testing.T) {
		var seen []string
		path := "/api/v1/devices?limit=2"
		for pages := 0; path != ""; pages++ {
			if pages > 3 {
				t.Fatal("pagination does not end")
			}
			var page inventory.Page
			e.call(request{method: "GET", path: path}, http.StatusOK, &page)
			if page.Total != 3 {
				t.Errorf("total %d, want 3", page.Total)
			}
			for _, d := range page.Devices {
				seen = append(seen, d.EndpointID)
			}
			path = ""
			if page.Next != "" {
				path = "/api/v1/devices?limit=2&cursor=" + url.QueryEscape(page.Next)
			}
		}
		if !slices.Equal(seen, []string{dev1, dev2, dev3}) {
			t.Errorf("pages gave %v", seen)
		}
	})

	t.Run("get one", func(t *testing.T) {
		// Endpoint IDs are one path segment, raw or percent-encoded.
		for _, p := range []string{"/api/v1/devices/" + dev1, "/api/v1/devices/os%3A%3A012345-0001"} {
			var d inventory.Device
			e.call(request{method: "GET", path: p, token: e.tokens[auth.RoleViewer]}, http.StatusOK, &d)
			if d.EndpointID != dev1 || d.SerialNumber == "" {
				t.Errorf("GET %s: %+v", p, d)
			}
		}
		r := e.do(request{method: "GET", path: devicePath("os::012345-9999"), token: e.tokens[auth.RoleViewer]})
		if p := wantProblem(t, r, http.StatusNotFound, "not-found"); p.Instance != "/api/v1/devices/os::012345-9999" {
			t.Errorf("instance %q", p.Instance)
		}
	})

	t.Run("escaped endpoint ID", func(t *testing.T) {
		// An instance ID may hold %-escapes; the client escapes the '%'.
		const odd = "oui:00D09E:a%2Fb"
		if _, err := e.ctl.Inventory().Update(t.Context(), odd, func(d *inventory.Device) error { d.Model = "odd"; return nil }); err != nil {
			t.Fatal(err)
		}
		var d inventory.Device
		e.call(request{method: "GET", path: devicePath(odd)}, http.StatusOK, &d)
		if d.EndpointID != odd {
			t.Errorf("got %q, want %q", d.EndpointID, odd)
		}
		e.call(request{method: "DELETE", path: devicePath(odd)}, http.StatusOK, nil)
	})

	t.Run("labels", func(t *testing.T) {
		var d inventory.Device
		e.call(request{method: "PATCH", path: devicePath(dev1, "labels"), token: e.tokens[auth.RoleOperator],
			body: map[string]any{"set": map[string]string{"site": "north", "tier": "gold"}}}, http.StatusOK, &d)
		if d.Labels["site"] != "north" || d.Labels["tier"] != "gold" {
			t.Errorf("labels %v", d.Labels)
		}
		e.call(request{method: "PATCH", path: devicePath(dev2, "labels"),
			body: map[string]any{"set": map[string]string{"site": "south"}}}, http.StatusOK, nil)
		d = inventory.Device{} // decoding into a map merges
		e.call(request{method: "PATCH", path: devicePath(dev1, "labels"),
			body: map[string]any{"remove": []string{"tier"}}}, http.StatusOK, &d)
		if _, ok := d.Labels["tier"]; ok || d.Labels["site"] != "north" {
			t.Errorf("after removing tier: %v", d.Labels)
		}
		var page inventory.Page
		e.call(request{method: "GET", path: "/api/v1/devices?labels=" + url.QueryEscape("site=north")}, http.StatusOK, &page)
		if page.Total != 1 || page.Devices[0].EndpointID != dev1 {
			t.Errorf("site=north selects %+v", page.Devices)
		}
		page = inventory.Page{}
		e.call(request{method: "GET", path: "/api/v1/devices?labels=" + url.QueryEscape("site,site!=north")}, http.StatusOK, &page)
		if page.Total != 1 || page.Devices[0].EndpointID != dev2 {
			t.Errorf("site,site!=north selects %+v", page.Devices)
		}

		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{"set": map[string]string{"bad key": "x"}}, "labels[bad key]"},
			{map[string]any{"set": map[string]string{"a": "1"}, "remove": []string{"a"}}, "labels[a]"},
			{map[string]any{}, "set"},
			{map[string]any{"add": map[string]string{"a": "1"}}, "add"},
		} {
			r := e.do(request{method: "PATCH", path: devicePath(dev1, "labels"), token: e.tokens[auth.RoleOperator], body: tc.body})
			p := wantProblem(t, r, http.StatusBadRequest, "invalid-request")
			if len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("%v: %s, want an error for field %q", tc.body, r.body, tc.field)
			}
		}
		r := e.do(request{method: "PATCH", path: devicePath("os::012345-9999", "labels"), token: e.tokens[auth.RoleOperator],
			body: map[string]any{"set": map[string]string{"a": "b"}}})
		wantProblem(t, r, http.StatusNotFound, "not-found")
	})

	t.Run("stats", func(t *testing.T) {
		var s inventory.Stats
		e.call(request{method: "GET", path: "/api/v1/stats", token: e.tokens[auth.RoleViewer]}, http.StatusOK, &s)
		if s.Total != 3 || s.Online != 3 || s.Offline != 0 || s.ByModel["CL-HG4000"] != 3 || s.ByManufacturer["Cuttle Labs"] != 3 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("delete", func(t *testing.T) {
		// Without revoke=true an operator may; the device is forgotten
		// (until it next reports in: its credential still works).
		var out struct {
			EndpointID        string `json:"endpoint_id"`
			CredentialRemoved bool   `json:"credential_removed"`
		}
		e.call(request{method: "DELETE", path: devicePath(dev3), token: e.tokens[auth.RoleOperator]}, http.StatusOK, &out)
		if out.EndpointID != dev3 || out.CredentialRemoved {
			t.Errorf("delete answered %+v", out)
		}
		if _, err := e.creds.Get(t.Context(), dev3); err != nil {
			t.Errorf("the credential went too: %v", err)
		}
		r := e.do(request{method: "DELETE", path: devicePath(dev3), token: e.tokens[auth.RoleOperator]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
		r = e.do(request{method: "DELETE", path: devicePath(dev2) + "?revoke=maybe", token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusBadRequest, "invalid-request")
	})
}
