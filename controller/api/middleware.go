package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"cuttle/controller/httpapi"
)

// RequestIDHeader carries a request's ID, in both directions.
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds the IDs accepted from clients.
const maxRequestIDLen = 128

// reqInfo is what the API learns about a request as it passes through the
// layers; the outermost layer creates it and logs it at the end.
type reqInfo struct {
	id    string
	start time.Time

	mu sync.Mutex // guards the fields below
	// route is the route's pattern without the method, for metrics and
	// logs; "" until a route claims the request.
	route string
	// token names the API token that authenticated the request.
	token string
	// status is the response status once written.
	status int
	// streaming marks a long-lived response (SSE) whose duration says
	// nothing about latency.
	streaming bool
}

type infoKey struct{}

// infoFrom returns the request's info; requests that did not come through
// the API's handler (handler tests) get a throwaway one.
func infoFrom(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{id: "-"}
}

func (i *reqInfo) setRoute(route, token string) {
	i.mu.Lock()
	i.route, i.token = route, token
	i.mu.Unlock()
}

func (i *reqInfo) wroteHeader() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.status != 0
}

func (i *reqInfo) setStreaming() {
	i.mu.Lock()
	i.streaming = true
	i.mu.Unlock()
}

// RequestID returns the ID of the request ctx belongs to, for handlers
// mounted on the API that log on their own.
func RequestID(ctx context.Context) string { return infoFrom(ctx).id }

// requestID returns the client's X-Request-ID when it is a sensible token,
// else a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(RequestIDHeader); id != "" && len(id) <= maxRequestIDLen && validRequestID(id) {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// validRequestID allows what fits in a log line unquoted and in a header
// without escaping.
func validRequestID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:/+=@", c) >= 0) {
			return false
		}
	}
	return true
}

// observe is the outermost layer: it gives the request its ID, recovers a
// panicking handler, and when the handler returns records the request's
// metrics and writes the access log line.
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqInfo{id: requestID(r), start: time.Now()}
		w.Header().Set(RequestIDHeader, info.id)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		sw := &statusWriter{ResponseWriter: w, info: info}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.writeError(sw, r, fmt.Errorf("handler panicked: %v\n%s", v, debug.Stack()))
			}
			a.finish(r, info)
		}()
		next.ServeHTTP(sw, r)
	})
}

// finish records a served request in the metrics and the access log.
func (a *API) finish(r *http.Request, info *reqInfo) {
	elapsed := time.Since(info.start)
	info.mu.Lock()
	route, token, status, streaming := info.route, info.token, info.status, info.streaming
	info.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	if route == "" {
		route = a.routeOf(r)
	}
	if route == "" {
		route = "unmatched"
	}
	method := metricMethod(r.Method)
	a.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	if !streaming {
		a.metrics.latency.WithLabelValues(route, method).Observe(elapsed.Seconds())
	}
	level := slog.LevelInfo
	if status < 400 && (route == "/healthz" || route == "/readyz" || route == "/metrics") {
		level = slog.LevelDebug // probes and scrapes, every few seconds
	}
	a.log.LogAttrs(r.Context(), level, "request",
		slog.String("request_id", info.id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("route", route), slog.Int("status", status), slog.Duration("duration", elapsed),
		slog.String("token", token), slog.String("remote", r.RemoteAddr))
}

// metricMethod bounds the method label: clients may send any method.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// statusWriter notes the status sent, for the log, the metrics and
// writeError (which must not write a problem after a stream began).
type statusWriter struct {
	http.ResponseWriter
	info *reqInfo
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 200 {
		w.info.mu.Lock()
		if w.info.status == 0 {
			w.info.status = code
		}
		w.info.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.info.mu.Lock()
	if w.info.status == 0 {
		w.info.status = http.StatusOK
	}
	w.info.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	w.info.mu.Lock()
	if w.info.status == 0 {
		w.info.status = http.StatusOK
	}
	w.info.mu.Unlock()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// authenticate puts auth.Middleware in front of next. The auth package
// writes its 401 and 403 problems itself, without the instance and
// request_id members every problem of this API carries; problemPatcher
// adds them.
func (a *API) authenticate(next http.Handler) http.Handler {
	authed := a.cfg.Auth.Middleware(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed.ServeHTTP(&problemPatcher{ResponseWriter: w, r: r}, r)
	})
}

// problemPatcher completes problem responses that lack instance or
// request_id. Those are small and written in one Write after WriteHeader,
// as auth writes them; anything else passes straight through.
type problemPatcher struct {
	http.ResponseWriter
	r       *http.Request
	pending int // status held back while a problem body is expected
	done    bool
}

func (p *problemPatcher) WriteHeader(code int) {
	if !p.done && code >= 400 && strings.HasPrefix(p.Header().Get("Content-Type"), httpapi.ProblemContentType) {
		p.pending = code
		return
	}
	p.done = true
	p.ResponseWriter.WriteHeader(code)
}

func (p *problemPatcher) Write(b []byte) (int, error) {
	if p.pending == 0 {
		p.done = true
		return p.ResponseWriter.Write(b)
	}
	code := p.pending
	p.pending, p.done = 0, true
	body := b
	var m map[string]any
	if json.Unmarshal(bytes.TrimSpace(b), &m) == nil {
		changed := false
		if _, ok := m["instance"]; !ok {
			m["instance"], changed = p.r.URL.Path, true
		}
		if _, ok := m["request_id"]; !ok {
			m["request_id"], changed = infoFrom(p.r.Context()).id, true
		}
		if changed {
			if patched, err := json.Marshal(m); err == nil {
				body = append(patched, '\n')
			}
		}
	}
	p.Header().Del("Content-Length")
	p.ResponseWriter.WriteHeader(code)
	if _, err := p.ResponseWriter.Write(body); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (p *problemPatcher) Flush() {
	if p.pending != 0 {
		p.ResponseWriter.WriteHeader(p.pending)
		p.pending = 0
	}
	p.done = true
	_ = http.NewResponseController(p.ResponseWriter).Flush()
}

func (p *problemPatcher) Unwrap() http.ResponseWriter { return p.ResponseWriter }
