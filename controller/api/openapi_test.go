package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"cuttle/controller/api"
	"cuttle/controller/auth"
)

// TestOpenAPI checks that openapi.json describes exactly the routes the
// router serves, with the permission each needs, and that the document is
// served and holds together.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := e.api.CheckOpenAPI(); err != nil {
		t.Errorf("openapi.json and the routes differ:\n%v", err)
	}

	r := e.do(request{method: "GET", path: "/api/v1/openapi.json"})
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(doc)
	// Every operation documents its errors as problems and names its
	// permission.
	for path, item := range doc["paths"].(map[string]any) {
		for method, raw := range item.(map[string]any) {
			op := raw.(map[string]any)
			responses := op["responses"].(map[string]any)
			if op["x-cuttle-action"] != "public" {
				for _, code := range []string{"401", "403"} {
					if _, ok := responses[code]; !ok {
						t.Errorf("%s %s does not document %s", method, path, code)
					}
				}
			}
			if op["operationId"] == nil || op["summary"] == nil {
				t.Errorf("%s %s lacks operationId or summary", method, path)
			}
		}
	}

	// A mounted route must be documented too.
	if err := e.api.Mount("GET /api/v1/jobs", auth.ActionRead, func(http.ResponseWriter, *http.Request) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.api.CheckOpenAPI(); err == nil || !strings.Contains(err.Error(), "route not in openapi.json: GET /api/v1/jobs") {
		t.Errorf("CheckOpenAPI after mounting an undocumented route: %v", err)
	}
}

// resolves reports whether a local JSON pointer names something in doc.
func resolves(doc map[string]any, ref string) bool {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	var cur any = doc
	for part := range strings.SplitSeq(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestMountHandler mounts a package that brings its own router and OpenAPI
// fragment, as controller/jobs does.
func TestMountHandler(t *testing.T) {
	e := newEnv(t, envOptions{})
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/things", auth.Require(auth.ActionRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"things":[]}`))
	})))
	mux.Handle("POST /api/v1/things/{id}/poke", auth.Require(auth.ActionOperate, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.SetAuditSummary(r.Context(), "poked "+r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})))
	routes := []api.Route{
		{Method: "GET", Path: "/api/v1/things", Action: auth.ActionRead},
		{Method: "POST", Path: "/api/v1/things/{id}/poke", Action: auth.ActionOperate},
	}
	if err := e.api.MountHandler("/api/v1/things", mux, routes); err != nil {
		t.Fatal(err)
	}
	if err := e.api.CheckOpenAPI(); err == nil {
		t.Error("CheckOpenAPI passes without the fragment")
	}
	fragment := func(doc map[string]any) error {
		paths := doc["paths"].(map[string]any)
		paths["/api/v1/things"] = map[string]any{"get": map[string]any{"x-cuttle-action": "read", "responses": map[string]any{}}}
		paths["/api/v1/things/{id}/poke"] = map[string]any{"post": map[string]any{"x-cuttle-action": "operate", "responses": map[string]any{}}}
		return nil
	}
	if err := e.api.ExtendOpenAPI(fragment); err != nil {
		t.Fatal(err)
	}
	if err := e.api.CheckOpenAPI(); err != nil {
		t.Errorf("after merging the fragment: %v", err)
	}
	if !strings.Contains(string(e.do(request{method: "GET", path: "/api/v1/openapi.json"}).body), "/api/v1/things/{id}/poke") {
		t.Error("the served document lacks the fragment")
	}

	e.call(request{method: "GET", path: "/api/v1/things", token: e.tokens[auth.RoleViewer]}, http.StatusOK, nil)
	wantProblem(t, e.do(request{method: "GET", path: "/api/v1/things"}), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, e.do(request{method: "POST", path: "/api/v1/things/7/poke", token: e.tokens[auth.RoleViewer]}), http.StatusForbidden, "forbidden")
	e.call(request{method: "POST", path: "/api/v1/things/7/poke", token: e.tokens[auth.RoleOperator]}, http.StatusNoContent, nil)
	if r := e.do(request{method: "GET", path: "/api/v1/things/elsewhere", token: e.tokens[auth.RoleViewer]}); r.status != http.StatusNotFound {
		t.Errorf("unknown path below the prefix: %d", r.status)
	}

	var log struct{ Entries []auth.AuditEntry }
	e.call(request{method: "GET", path: "/api/v1/audit"}, http.StatusOK, &log)
	var summaries []string
	for _, en := range log.Entries {
		summaries = append(summaries, en.TokenName+" "+en.Summary+" "+http.StatusText(en.Status))
	}
	if got := strings.Join(summaries, "; "); !strings.Contains(got, "operator poked 7 No Content") || !strings.Contains(got, "viewer  Forbidden") {
		t.Errorf("audit log: %s", got)
	}
	metrics := string(e.call(request{method: "GET", path: "/metrics"}, http.StatusOK, nil).body)
	if !strings.Contains(metrics, `cuttle_api_requests_total{code="204",method="POST",route="/api/v1/things/{id}/poke"} 1`) {
		t.Error("/metrics does not name the mounted route")
	}
	for _, bad := range []string{"/api/v1", "/elsewhere"} {
		if err := e.api.MountHandler(bad, mux, nil); err == nil {
			t.Errorf("MountHandler(%q) did not fail", bad)
		}
	}
	if err := e.api.MountHandler("/api/v1/other", mux, []api.Route{{Method: "GET", Path: "/api/v1/things", Action: auth.ActionRead}}); err == nil {
		t.Error("MountHandler accepted a route outside its prefix")
	}
}
