package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// apiServer serves a small API wired the way the real one is: Middleware
// outside, AuditMiddleware inside it, Require per route.
func apiServer(t testing.TB, s *Store) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	whoami := func(w http.ResponseWriter, r *http.Request) {
		tok, ok := FromContext(r.Context())
		if !ok {
			http.Error(w, "no token in context", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s", tok.Name, tok.Role)
	}
	mux.Handle("GET /devices", Require(ActionRead, http.HandlerFunc(whoami)))
	mux.Handle("POST /devices/{id}/set", Require(ActionOperate, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetAuditSummary(r.Context(), "set 1 parameter on "+r.PathValue("id"))
		w.WriteHeader(http.StatusAccepted)
	})))
	mux.Handle("DELETE /tokens/{id}", Require(ActionAdmin, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Revoke(r.Context(), r.PathValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		SetAuditSummary(r.Context(), "revoked token "+r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.Handle("POST /panic", Require(ActionRead, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler) // net/http recovers this one quietly
	})))
	srv := httptest.NewServer(s.Middleware(AuditMiddleware(s, mux)))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status  int
	body    string
	header  http.Header
	problem problem
}

func do(t testing.TB, srv *httptest.Server, method, path, authorization string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		if method == http.MethodPost && path == "/panic" {
			return response{} // the aborted handler closes the connection
		}
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, body: string(body), header: resp.Header}
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		if err := json.Unmarshal(body, &r.problem); err != nil {
			t.Fatalf("problem body %q: %v", body, err)
		}
	}
	return r
}

func TestMiddleware(t *testing.T) {
	s, _ := newStore(t)
	srv := apiServer(t, s)
	_, admin := create(t, s, "alice", RoleAdmin, 0)
	_, operator := create(t, s, "bob", RoleOperator, 0)
	_, viewer := create(t, s, "carol", RoleViewer, 0)
	revokedTok, revoked := create(t, s, "dave", RoleAdmin, 0)
	if err := s.Revoke(testCtx(t), revokedTok.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, method, path, auth string
		status                   int
		body                     string // for successes
	}{
		{"no header", "GET", "/devices", "", 401, ""},
		{"basic auth", "GET", "/devices", "Basic YWxpY2U6cHc=", 401, ""},
		{"empty bearer", "GET", "/devices", "Bearer ", 401, ""},
		{"malformed", "GET", "/devices", "Bearer cut_short", 401, ""},
		{"garbage", "GET", "/devices", "Bearer " + strings.Repeat("\xff", tokenLen), 401, ""},
		{"revoked", "GET", "/devices", "Bearer " + revoked, 401, ""},
		{"viewer reads", "GET", "/devices", "Bearer " + viewer, 200, "carol viewer"},
		{"scheme is case-insensitive", "GET", "/devices", "bearer " + viewer, 200, "carol viewer"},
		{"viewer operates", "POST", "/devices/os::1/set", "Bearer " + viewer, 403, ""},
		{"operator operates", "POST", "/devices/os::1/set", "Bearer " + operator, 202, ""},
		{"operator administers", "DELETE", "/tokens/aaaaaaaaaaaaaaaa", "Bearer " + operator, 403, ""},
		{"admin administers", "DELETE", "/tokens/aaaaaaaaaaaaaaaa", "Bearer " + admin, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, srv, tt.method, tt.path, tt.auth)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			switch tt.status {
			case 401:
				if r.problem.Type != ProblemUnauthorized || r.problem.Status != 401 || r.problem.Title == "" {
					t.Errorf("problem %+v", r.problem)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				if strings.Contains(r.body, "revoked token") || strings.Contains(r.body, revokedTok.ID) {
					t.Errorf("401 body says why: %s", r.body)
				}
			case 403:
				if r.problem.Type != ProblemForbidden || r.problem.Status != 403 {
					t.Errorf("problem %+v", r.problem)
				}
			case 200:
				if r.body != tt.body {
					t.Errorf("body %q, want %q", r.body, tt.body)
				}
			}
		})
	}
}

// TestRequireWithoutMiddleware checks that a route wired without
// Middleware is closed, not open.
func TestRequireWithoutMiddleware(t *testing.T) {
	h := Require(ActionRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached without a token")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	h = Require(ActionRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h.ServeHTTP(rec, req.WithContext(NewContext(req.Context(), Token{Role: RoleViewer})))
	if rec.Code != http.StatusOK {
		t.Fatalf("with a viewer token in the context: status %d", rec.Code)
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer  ", "", false},
		{"Token abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := bearer(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}
