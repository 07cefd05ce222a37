// Package api is the controller's operator REST API: JSON over HTTP under
// /api/v1 for the device inventory, per-device USP requests, the event log
// (also as Server-Sent Events), broker credentials, API tokens and the
// audit log, plus /metrics, /healthz and /readyz. The CLI and the web
// console are its clients; openapi.json, served at /api/v1/openapi.json,
// describes every route.
//
// Requests authenticate with bearer tokens (controller/auth); each route
// needs one auth.Action, and routes that change something are written to
// the audit log. Errors are RFC 9457 problem documents with stable type
// URIs (see the Type constants), the request path as "instance" and the
// request's ID, which the logs carry too.
//
// Other parts of the controller add routes with Mount (one authenticated
// route and its HandlerFunc), MountHandler (a package's own router under a
// prefix, such as bulk jobs under /api/v1/jobs, with ExtendOpenAPI for its
// description) and MountPublic (the web console at "/"). The API leaves
// "/" free for them.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker/creds"
	"cuttle/controller"
	"cuttle/controller/auth"
	"cuttle/controller/events"
	"cuttle/controller/httpapi"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
)

// Config configures the API. Controller, Auth and Creds are required;
// zero values of the rest mean defaults.
type Config struct {
	Controller *controller.Controller
	// Auth holds the API tokens and the audit log.
	Auth *auth.Store
	// Creds is the broker's credential store.
	Creds *creds.Store
	// Logger receives logs with component=api; nil discards them.
	Logger *slog.Logger
	// Registerer receives the request metrics; nil means a private
	// registry.
	Registerer prometheus.Registerer
	// Gatherer is served at GET /metrics to tokens that may read; nil
	// serves no /metrics (see MetricsHandler for a separate listener).
	Gatherer prometheus.Gatherer
	// Ready reports whether the service can take requests, for /readyz;
	// nil means: connected to the broker, and the inventory is current.
	Ready func() error
	// Heartbeat is how often idle event streams get a comment line;
	// default DefaultHeartbeat.
	Heartbeat time.Duration
	// StatsInterval is how often the stats stream looks for changes;
	// default DefaultStatsInterval.
	StatsInterval time.Duration
}

// API serves the REST API. Create it with New and serve Handler.
type API struct {
	cfg     Config
	log     *slog.Logger
	inv     *inventory.Inventory
	mtp     *mqttmtp.Client
	events  *events.Log
	creds   *creds.Store
	metrics *metrics
	// root routes everything; mux the authenticated routes, behind
	// auth.Middleware.
	root, mux *http.ServeMux
	handler   http.Handler

	mu     sync.Mutex // guards routes and doc
	routes []Route
	// doc is the OpenAPI document served: openapi.json plus what
	// ExtendOpenAPI added.
	doc []byte
}

// Route is one route of the API, for documentation checks and listings.
type Route struct {
	Method string
	// Path is a net/http pattern path, such as "/api/v1/devices/{id}"; it
	// is also the OpenAPI path.
	Path string
	// Action is the permission the route needs; "" means public.
	Action auth.Action
	// Audited routes are written to the audit log.
	Audited bool
}

// catchAll answers the /api/ paths no route claims.
const catchAll = "/api/"

// New builds the API's routes.
func New(cfg Config) (*API, error) {
	switch {
	case cfg.Controller == nil:
		return nil, errors.New("api: Config.Controller is required")
	case cfg.Auth == nil:
		return nil, errors.New("api: Config.Auth is required")
	case cfg.Creds == nil:
		return nil, errors.New("api: Config.Creds is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	a := &API{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "api"),
		inv:    cfg.Controller.Inventory(),
		mtp:    cfg.Controller.MTP(),
		events: cfg.Controller.Events(),
		creds:  cfg.Creds,
		root:   http.NewServeMux(),
		mux:    http.NewServeMux(),
		doc:    openAPIDoc,
	}
	if a.cfg.Ready == nil {
		a.cfg.Ready = a.defaultReady
	}
	var err error
	if a.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	authed := a.authenticate(a.mux)
	a.root.Handle(catchAll, authed)
	for _, p := range a.publicRoutes() {
		if err := a.handlePublic(p.pattern, a.adapt(p.handle), true); err != nil {
			return nil, err
		}
	}
	if cfg.Gatherer != nil {
		a.root.Handle("GET /metrics", authed)
		if err := a.Mount("GET /metrics", auth.ActionRead, a.metricsRoute); err != nil {
			return nil, err
		}
	}
	for _, rt := range a.apiRoutes() {
		if err := a.Mount(rt.pattern, rt.action, rt.handle); err != nil {
			return nil, err
		}
	}
	a.mux.Handle(catchAll, a.adapt(a.unmatched))
	a.handler = a.observe(a.root)
	return a, nil
}

// Handler serves the API: /api/v1/..., /metrics, /healthz, /readyz, and
// whatever was mounted. Paths nobody serves get 404, as a problem under
// /api/.
func (a *API) Handler() http.Handler { return a.handler }

// Mount adds an authenticated route to the API, such as
//
//	a.Mount("POST /api/v1/jobs", auth.ActionOperate, jobs.create)
//	a.Mount("GET /api/v1/jobs/{id}", auth.ActionRead, jobs.show)
//
// pattern is a net/http pattern with a method and a path under /api/v1/.
// The route gets what every API route gets: bearer-token authentication,
// the action's permission check, request IDs, metrics, logs, the body
// limit, and problem responses for the errors h returns (use the Error
// helpers, DecodeJSON and WriteJSON). Routes with another method than GET
// that need more than ActionRead are audited; call auth.SetAuditSummary to
// say what they did. Add the route to openapi.json as well: the test
// checks that every route is documented. Mount before serving.
func (a *API) Mount(pattern string, action auth.Action, h HandlerFunc) error {
	method, path, err := splitPattern(pattern)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(path, "/api/v1/") && path != "/metrics" {
		return fmt.Errorf("api: Mount(%q): the path must be under /api/v1/", pattern)
	}
	if !slices.Contains(auth.Actions(), action) {
		return fmt.Errorf("api: Mount(%q): unknown action %q", pattern, action)
	}
	if h == nil {
		return fmt.Errorf("api: Mount(%q): nil handler", pattern)
	}
	audited := method != http.MethodGet && action != auth.ActionRead
	var chain http.Handler = auth.Require(action, a.adapt(h))
	if audited {
		chain = auth.AuditMiddleware(a.cfg.Auth, chain)
	}
	if err := register(a.mux, pattern, a.label(path, chain)); err != nil {
		return err
	}
	a.addRoute(Route{Method: method, Path: path, Action: action, Audited: audited})
	return nil
}

// MountHandler mounts h for the path prefix and everything below it
// ("/api/v1/jobs" and "/api/v1/jobs/..."), behind authentication and the
// audit log (for routes other than GET that need more than ActionRead),
// with request IDs, metrics and logs. h serves its own routes, listed in
// routes, and checks each one's action with auth.Require; it answers
// paths and methods it does not serve itself. This suits a package that
// brings its own router, such as controller/jobs:
//
//	a.MountHandler("/api/v1/jobs", mgr.Handler(jobs.HandlerOptions{RequestID: api.RequestID}), routes)
//	a.ExtendOpenAPI(jobs.MergeOpenAPI)
func (a *API) MountHandler(prefix string, h http.Handler, routes []Route) error {
	prefix = strings.TrimSuffix(prefix, "/")
	if !strings.HasPrefix(prefix+"/", "/api/v1/") || prefix == "/api/v1" {
		return fmt.Errorf("api: MountHandler(%q): the prefix must be below /api/v1/", prefix)
	}
	if h == nil {
		return fmt.Errorf("api: MountHandler(%q): nil handler", prefix)
	}
	// labels finds which of the routes a request is for, to name it in
	// the metrics and the log and to decide whether to audit it.
	labels := http.NewServeMux()
	byPattern := map[string]Route{}
	var list []Route
	for _, rt := range routes {
		if rt.Path != prefix && !strings.HasPrefix(rt.Path, prefix+"/") {
			return fmt.Errorf("api: MountHandler(%q): route %s %s is outside the prefix", prefix, rt.Method, rt.Path)
		}
		if !slices.Contains(auth.Actions(), rt.Action) {
			return fmt.Errorf("api: MountHandler(%q): route %s %s: unknown action %q", prefix, rt.Method, rt.Path, rt.Action)
		}
		rt.Audited = rt.Method != http.MethodGet && rt.Action != auth.ActionRead
		pattern := rt.Method + " " + rt.Path
		if err := register(labels, pattern, http.NotFoundHandler()); err != nil {
			return err
		}
		byPattern[pattern] = rt
		list = append(list, rt)
	}
	audited := auth.AuditMiddleware(a.cfg.Auth, h)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, p := labels.Handler(r)
		rt, ok := byPattern[p]
		if !ok {
			h.ServeHTTP(w, r) // h's own 404 or 405
			return
		}
		infoFrom(r.Context()).setRoute(rt.Path, tokenName(r))
		if rt.Audited {
			audited.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	for _, pattern := range []string{prefix, prefix + "/"} {
		if err := register(a.mux, pattern, handler); err != nil {
			return err
		}
	}
	for _, rt := range list {
		a.addRoute(rt)
	}
	return nil
}

// ExtendOpenAPI lets merge add to the OpenAPI document the API serves and
// checks (CheckOpenAPI), for routes mounted with MountHandler whose
// package brings its own description, such as jobs.MergeOpenAPI.
func (a *API) ExtendOpenAPI(merge func(doc map[string]any) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var doc map[string]any
	if err := json.Unmarshal(a.doc, &doc); err != nil {
		return fmt.Errorf("api: decoding the OpenAPI document: %w", err)
	}
	if err := merge(doc); err != nil {
		return err
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("api: encoding the OpenAPI document: %w", err)
	}
	a.doc = append(out, '\n')
	return nil
}

// MountPublic adds a route that needs no token, such as the web console
// at "/". It gets request IDs, metrics and logs; authentication and error
// responses are h's business. Public routes are not part of the API's
// route list.
func (a *API) MountPublic(pattern string, h http.Handler) error {
	_, path, _ := splitPattern(pattern)
	if strings.HasPrefix(path, catchAll) || path == "/metrics" {
		return fmt.Errorf("api: MountPublic(%q): /api/ and /metrics need authentication; use Mount", pattern)
	}
	return a.handlePublic(pattern, h, false)
}

func (a *API) handlePublic(pattern string, h http.Handler, listed bool) error {
	method, path, err := splitPattern(pattern)
	if err != nil && listed {
		return err
	}
	if err := register(a.root, pattern, a.label(path, h)); err != nil {
		return err
	}
	if listed {
		a.addRoute(Route{Method: method, Path: path})
	}
	return nil
}

// Routes lists the API's routes: its own and those mounted with Mount.
func (a *API) Routes() []Route {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.routes)
}

func (a *API) addRoute(r Route) {
	a.mu.Lock()
	a.routes = append(a.routes, r)
	a.mu.Unlock()
}

// splitPattern splits "METHOD /path"; the path may have no method for
// MountPublic, which then reports an error it ignores.
func splitPattern(pattern string) (method, path string, err error) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") {
		return "", strings.TrimSpace(pattern), fmt.Errorf("api: pattern %q: want \"METHOD /path\"", pattern)
	}
	return method, path, nil
}

// register adds a route to mux, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("api: route %q: %v", pattern, v)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// label names the route a request took, and the token it used, for the
// metrics and the access log.
func (a *API) label(path string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).setRoute(path, tokenName(r))
		next.ServeHTTP(w, r)
	})
}

// tokenName names the token that authenticated r, if any.
func tokenName(r *http.Request) string {
	if t, ok := auth.FromContext(r.Context()); ok {
		return t.Name
	}
	return ""
}

// adapt runs a HandlerFunc: it limits the request body and turns a
// returned error into a problem response.
func (a *API) adapt(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// unmatched answers /api/ requests no route claims: 405 when the path
// exists with other methods, else 404.
func (a *API) unmatched(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := a.mux.Handler(probe); p != "" && p != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return &Error{Status: http.StatusMethodNotAllowed, Type: httpapi.TypeMethodNotAllowed, Title: "Method not allowed",
			Detail: fmt.Sprintf("%s does not take %s; it takes %s.", r.URL.Path, r.Method, strings.Join(allow, ", "))}
	}
	return NotFound("No API route matches %s %s.", r.Method, r.URL.Path)
}

// routeOf names the route of a request that no route handler saw (one
// that failed authentication), for metrics.
func (a *API) routeOf(r *http.Request) string {
	if _, p := a.mux.Handler(r); p != "" && p != catchAll {
		_, path, _ := splitPattern(p)
		return path
	}
	return ""
}
