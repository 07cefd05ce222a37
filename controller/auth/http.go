package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Problem types (RFC 9457) written by Middleware and Require. They are
// stable: clients may compare them.
const (
	ProblemUnauthorized = "https://cuttle.dev/problems/unauthorized"
	ProblemForbidden    = "https://cuttle.dev/problems/forbidden"
)

// auditTimeout bounds recording one request in the audit log.
const auditTimeout = 5 * time.Second

type tokenKey struct{}

// FromContext returns the token Middleware authenticated the request with.
func FromContext(ctx context.Context) (Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(Token)
	return t, ok
}

// NewContext returns ctx carrying t, as Middleware does; handler tests use
// it to stand in for Middleware.
func NewContext(ctx context.Context, t Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// Middleware authenticates every request by its "Authorization: Bearer"
// header and passes it on with the token in its context (see FromContext).
// Anything else gets a 401 problem response that does not say why; the
// reason is logged.
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			unauthorized(w, false)
			return
		}
		t, err := s.Authenticate(secret)
		if err != nil {
			s.log.Info("authentication failed", "err", err, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
			unauthorized(w, true)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), t)))
	})
}

// bearer extracts the token from an Authorization header value. The scheme
// is case-insensitive (RFC 9110, section 11.1).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Require lets a request through only if its token's role allows action;
// otherwise it answers 403, or 401 when no token is in the context (the
// route is not behind Middleware, which is a wiring mistake that must not
// leave it open).
func Require(action Action, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := FromContext(r.Context())
		if !ok {
			unauthorized(w, false)
			return
		}
		if !t.Role.Allows(action) {
			writeProblem(w, http.StatusForbidden, ProblemForbidden, "Forbidden",
				fmt.Sprintf("role %q does not allow %q", t.Role, action))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter, presented bool) {
	// RFC 6750, section 3: say the scheme, and that a token presented was
	// not accepted.
	challenge := `Bearer realm="cuttle"`
	detail := "This API needs an \"Authorization: Bearer <token>\" header."
	if presented {
		challenge += `, error="invalid_token"`
		detail = "The bearer token is malformed, unknown, revoked or expired."
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeProblem(w, http.StatusUnauthorized, ProblemUnauthorized, "Unauthorized", detail)
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, typ, title, detail string) {
	body, _ := json.Marshal(problem{Type: typ, Title: title, Status: status, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// auditNote carries a handler's summary out to AuditMiddleware.
type auditNote struct {
	mu      sync.Mutex // guards summary
	summary string
}

type noteKey struct{}

// SetAuditSummary sets the summary AuditMiddleware records for the request
// ctx belongs to, such as "created token ci (operator)". Without
// AuditMiddleware it does nothing.
func SetAuditSummary(ctx context.Context, summary string) {
	if n, ok := ctx.Value(noteKey{}).(*auditNote); ok {
		n.mu.Lock()
		n.summary = summary
		n.mu.Unlock()
	}
}

// mutating reports whether a method may change state: everything but the
// safe methods of RFC 9110, section 9.2.1.
func mutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// AuditMiddleware records every mutating request in s's audit log once its
// handler has returned, with the response status and the summary the
// handler set. It does not touch bodies. Place it inside Middleware, which
// supplies the token: requests that fail authentication are then logged
// but not audited, so that anonymous clients cannot flood the audit log and
// push real entries out of it.
func AuditMiddleware(s *Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !mutating(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		note := &auditNote{}
		r = r.WithContext(context.WithValue(r.Context(), noteKey{}, note))
		rec := &statusRecorder{ResponseWriter: w}
		returned := false
		defer func() {
			status := rec.status
			if status == 0 {
				status = http.StatusOK // what net/http sends for a silent handler
				if !returned {
					status = http.StatusInternalServerError // it panicked
				}
			}
			note.mu.Lock()
			summary := note.summary
			note.mu.Unlock()
			s.auditRequest(r, status, summary)
		}()
		next.ServeHTTP(rec, r)
		returned = true
	})
}

func (s *Store) auditRequest(r *http.Request, status int, summary string) {
	t, _ := FromContext(r.Context())
	e := AuditEntry{
		TokenID:   t.ID,
		TokenName: t.Name,
		Role:      t.Role,
		Method:    r.Method,
		Path:      r.URL.Path,
		Summary:   summary,
		Status:    status,
		Remote:    r.RemoteAddr,
	}
	// The client may be gone; the record must still be written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
	defer cancel()
	if err := s.Audit(ctx, e); err != nil {
		s.log.Error("audit entry lost", "err", err, "token_id", e.TokenID, "token_name", e.TokenName,
			"method", e.Method, "path", e.Path, "status", e.Status, "summary", e.Summary)
	}
}

// statusRecorder notes the status a handler sends. It passes everything
// through unbuffered; Unwrap lets http.ResponseController reach the
// underlying writer's optional interfaces.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx responses are not the outcome
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush supports handlers that stream, which assert http.Flusher directly.
func (r *statusRecorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
