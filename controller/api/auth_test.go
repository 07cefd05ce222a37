package api_test

import (
	"net/http"
	"strings"
	"testing"

	"cuttle/controller/auth"
	"cuttle/devices/inventory"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		name, header string
		presented    bool
	}{
		{"no header", "", false},
		{"not bearer", "Basic dXNlcjpwYXNz", false},
		{"unknown token", "Bearer cut_aaaaaaaaaaaaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", true},
		{"garbage token", "Bearer nonsense", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["Authorization"] = tc.header
			}
			for _, path := range []string{"/api/v1/devices", "/api/v1/no-such-route", "/metrics"} {
				r := e.do(request{method: "GET", path: path, header: h})
				p := wantProblem(t, r, http.StatusUnauthorized, "unauthorized")
				if p.Instance != path {
					t.Errorf("instance %q, want %q", p.Instance, path)
				}
				challenge := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(challenge, "Bearer") || strings.Contains(challenge, "invalid_token") != tc.presented {
					t.Errorf("WWW-Authenticate %q", challenge)
				}
			}
		})
	}
	t.Run("public routes", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
			if r := e.do(request{method: "GET", path: path}); r.status != http.StatusOK {
				t.Errorf("GET %s without a token: %d %s", path, r.status, r.body)
			}
		}
	})
}

// TestPermissions calls every route with every role. Requests are made to
// fail after the permission check (unknown IDs, empty bodies, bad
// parameters), so allowed calls change nothing and get 400 or 404, and
// denied ones get 403.
func TestPermissions(t *testing.T) {
	e := newEnv(t, envOptions{})
	replacer := strings.NewReplacer("{id}", "os::012345-9999", "{username}", "nobody")
	for _, rt := range e.api.Routes() {
		if rt.Action == "" {
			continue // public
		}
		path := replacer.Replace(rt.Path)
		if strings.HasSuffix(rt.Path, "/stream") {
			path += "?not-a-parameter=1" // a stream would not end; a bad request does
		}
		for _, role := range auth.Roles() {
			r := e.do(request{method: rt.Method, path: path, token: e.tokens[role]})
			if role.Allows(rt.Action) {
				if r.status == http.StatusForbidden || r.status == http.StatusUnauthorized || r.status >= 500 {
					t.Errorf("%s %s as %s (allowed %s): %d %s", rt.Method, path, role, rt.Action, r.status, r.body)
				}
				continue
			}
			p := wantProblem(t, r, http.StatusForbidden, "forbidden")
			if !strings.Contains(p.Detail, string(rt.Action)) {
				t.Errorf("%s %s as %s: detail %q does not name %q", rt.Method, path, role, p.Detail, rt.Action)
			}
		}
	}

	t.Run("delete with revoke needs admin", func(t *testing.T) {
		if _, err := e.ctl.Inventory().Update(t.Context(), "os::012345-0042", func(*inventory.Device) error { return nil }); err != nil {
			t.Fatal(err)
		}
		r := e.do(request{method: "DELETE", path: devicePath("os::012345-0042") + "?revoke=true", token: e.tokens[auth.RoleOperator]})
		wantProblem(t, r, http.StatusForbidden, "forbidden")
		e.call(request{method: "DELETE", path: devicePath("os::012345-0042") + "?revoke=true"}, http.StatusOK, nil)
	})

	t.Run("read-only USP requests for viewers", func(t *testing.T) {
		for _, op := range []string{"get", "instances", "supported-dm", "supported-protocol"} {
			r := e.do(request{method: "POST", path: devicePath("os::012345-9999", op), token: e.tokens[auth.RoleViewer],
				body: map[string]any{"paths": []string{"Device."}}})
			if op == "supported-protocol" {
				r = e.do(request{method: "POST", path: devicePath("os::012345-9999", op), token: e.tokens[auth.RoleViewer]})
			}
			wantProblem(t, r, http.StatusNotFound, "not-found")
		}
	})
}
