package api_test

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"cuttle/controller/api"
	"cuttle/controller/auth"
	"cuttle/devices/inventory"
)

func TestProblemsAndPlumbing(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1}, mtpTimeout: time.Second})
	admin, viewer := e.tokens[auth.RoleAdmin], e.tokens[auth.RoleViewer]
	get := devicePath(dev1, "get")

	t.Run("request IDs", func(t *testing.T) {
		r := e.do(request{method: "GET", path: "/api/v1/devices", token: viewer})
		if id := r.header.Get("X-Request-ID"); !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
			t.Errorf("generated X-Request-ID %q", id)
		}
		r = e.do(request{method: "GET", path: "/api/v1/devices", token: viewer, header: map[string]string{"X-Request-ID": "cli-42:abc"}})
		if id := r.header.Get("X-Request-ID"); id != "cli-42:abc" {
			t.Errorf("X-Request-ID %q, want the client's", id)
		}
		r = e.do(request{method: "GET", path: "/api/v1/nothing", token: viewer, header: map[string]string{"X-Request-ID": "cli-43"}})
		if p := wantProblem(t, r, http.StatusNotFound, "not-found"); p.RequestID != "cli-43" || p.Instance != "/api/v1/nothing" {
			t.Errorf("problem %s", r.body)
		}
		r = e.do(request{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": "has spaces\tand tabs"}})
		if id := r.header.Get("X-Request-ID"); len(id) != 24 {
			t.Errorf("a malformed client ID was kept: %q", id)
		}
	})

	t.Run("method not allowed", func(t *testing.T) {
		r := e.do(request{method: "DELETE", path: "/api/v1/stats", token: admin})
		wantProblem(t, r, http.StatusMethodNotAllowed, "method-not-allowed")
		if allow := r.header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("Allow %q", allow)
		}
		r = e.do(request{method: "GET", path: get, token: admin})
		wantProblem(t, r, http.StatusMethodNotAllowed, "method-not-allowed")
		if allow := r.header.Get("Allow"); allow != "POST" {
			t.Errorf("Allow %q", allow)
		}
	})

	t.Run("bodies", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   any
			header map[string]string
			status int
			slug   string
			field  string
		}{
			{"unknown field", map[string]any{"paths": []string{"Device."}, "depth": 1}, nil, 400, "invalid-request", "depth"},
			{"wrong type", map[string]any{"paths": "Device."}, nil, 400, "invalid-request", "paths"},
			{"wrong element type", map[string]any{"paths": []any{1}}, nil, 400, "invalid-request", "paths"},
			{"not JSON", "{paths:", nil, 400, "invalid-request", ""},
			{"truncated", `{"paths":["Device."]`, nil, 400, "invalid-request", ""},
			{"two values", `{"paths":["Device."]} {}`, nil, 400, "invalid-request", ""},
			{"not an object", `["Device."]`, nil, 400, "invalid-request", ""},
			{"form", "paths=Device.", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported-media-type", ""},
			{"no content type", `{"paths":["Device."]}`, map[string]string{"Content-Type": ""}, 415, "unsupported-media-type", ""},
			{"too large", `{"paths":["` + strings.Repeat("x", api.MaxBodyBytes) + `"]}`, nil, 413, "payload-too-large", ""},
		} {
			r := e.do(request{method: "POST", path: get, token: viewer, body: tc.body, header: tc.header})
			p := wantProblem(t, r, tc.status, tc.slug)
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
				t.Errorf("%s: %s, want an error for field %q", tc.name, r.body, tc.field)
			}
		}
		// JSON with a charset is JSON.
		e.call(request{method: "POST", path: get, token: viewer, body: map[string]any{"paths": []string{"Device.DeviceInfo.UpTime"}},
			header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, http.StatusOK, nil)
	})

	t.Run("device timeout", func(t *testing.T) {
		// The inventory says online, but nothing answers.
		const ghost = "os::012345-0666"
		if _, err := e.ctl.Inventory().Update(t.Context(), ghost, func(d *inventory.Device) error {
			d.Status = inventory.StatusOnline
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		r := e.do(request{method: "POST", path: devicePath(ghost, "get"), token: viewer, body: map[string]any{"paths": []string{"Device."}}})
		wantProblem(t, r, http.StatusGatewayTimeout, "device-timeout")
	})

	t.Run("health", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			var got struct{ Status string }
			e.call(request{method: "GET", path: path}, http.StatusOK, &got)
			if got.Status == "" {
				t.Errorf("%s: no status", path)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		wantProblem(t, e.do(request{method: "GET", path: "/metrics"}), http.StatusUnauthorized, "unauthorized")
		r := e.call(request{method: "GET", path: "/metrics", token: viewer}, http.StatusOK, nil)
		for _, want := range []string{
			`cuttle_api_requests_total{code="200",method="GET",route="/api/v1/devices"}`,
			`cuttle_api_requests_total{code="404",method="GET",route="unmatched"}`,
			`cuttle_api_requests_total{code="401",method="GET",route="/metrics"}`,
			`cuttle_api_request_duration_seconds_bucket{method="POST",route="/api/v1/devices/{id}/get"`,
			"cuttle_controller_usp_requests_total", // the controller's own, same registry
		} {
			if !strings.Contains(string(r.body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("root is left free", func(t *testing.T) {
		if r := e.do(request{method: "GET", path: "/"}); r.status != http.StatusNotFound {
			t.Errorf("GET / answered %d", r.status)
		}
		if err := e.api.MountPublic("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("console"))
		})); err != nil {
			t.Fatal(err)
		}
		if r := e.do(request{method: "GET", path: "/devices/x"}); r.status != http.StatusOK || string(r.body) != "console" || r.header.Get("X-Request-ID") == "" {
			t.Errorf("GET /devices/x after mounting /: %d %s", r.status, r.body)
		}
		// The API's paths are still the API's.
		wantProblem(t, e.do(request{method: "GET", path: "/api/v1/nothing", token: viewer}), http.StatusNotFound, "not-found")
	})

	t.Run("mount", func(t *testing.T) {
		calls := 0
		err := e.api.Mount("POST /api/v1/jobs", auth.ActionOperate, func(w http.ResponseWriter, r *http.Request) error {
			var body struct {
				Op string `json:"op"`
			}
			if err := api.DecodeJSON(r, &body); err != nil {
				return err
			}
			switch body.Op {
			case "":
				return api.Invalid(api.FieldError{Field: "op", Message: "required"})
			case "boom":
				return errors.New("disk on fire")
			case "panic":
				panic("oops")
			}
			calls++
			auth.SetAuditSummary(r.Context(), "created job "+body.Op)
			return api.WriteJSON(w, http.StatusCreated, map[string]string{"id": "1", "request_id": api.RequestID(r.Context())})
		})
		if err != nil {
			t.Fatal(err)
		}
		e.call(request{method: "POST", path: "/api/v1/jobs", token: e.tokens[auth.RoleOperator], body: map[string]string{"op": "get"}}, http.StatusCreated, nil)
		wantProblem(t, e.do(request{method: "POST", path: "/api/v1/jobs", token: viewer, body: map[string]string{"op": "get"}}), http.StatusForbidden, "forbidden")
		wantProblem(t, e.do(request{method: "POST", path: "/api/v1/jobs", token: admin, body: map[string]string{}}), http.StatusBadRequest, "invalid-request")
		p := wantProblem(t, e.do(request{method: "POST", path: "/api/v1/jobs", token: admin, body: map[string]string{"op": "boom"}}), http.StatusInternalServerError, "internal")
		if strings.Contains(p.Detail, "fire") {
			t.Errorf("internal detail leaks the cause: %q", p.Detail)
		}
		wantProblem(t, e.do(request{method: "POST", path: "/api/v1/jobs", token: admin, body: map[string]string{"op": "panic"}}), http.StatusInternalServerError, "internal")
		if calls != 1 {
			t.Errorf("%d calls got through", calls)
		}
		for _, bad := range []string{"POST /api/v1/jobs", "/api/v1/x", "GET /elsewhere"} {
			if err := e.api.Mount(bad, auth.ActionRead, nil); err == nil {
				t.Errorf("Mount(%q) did not fail", bad)
			}
		}
		var found bool
		for _, rt := range e.api.Routes() {
			found = found || (rt.Method == "POST" && rt.Path == "/api/v1/jobs" && rt.Action == auth.ActionOperate && rt.Audited)
		}
		if !found {
			t.Error("the mounted route is not listed")
		}
	})
}
