package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"cuttle/controller/auth"
	"cuttle/controller/httpapi"
)

// Problem types (RFC 9457 "type" members): the API's, so that clients
// see one set.
const (
	TypeNotFound         = httpapi.TypeNotFound
	TypeInvalidRequest   = httpapi.TypeInvalidRequest
	TypeConflict         = httpapi.TypeConflict
	TypeMethodNotAllowed = httpapi.TypeMethodNotAllowed
	TypePayloadTooLarge  = httpapi.TypePayloadTooLarge
	TypeUnsupportedMedia = httpapi.TypeUnsupportedMediaType
	TypeInternal         = httpapi.TypeInternal
)

const (
	defaultHeartbeat = 15 * time.Second
	eventStreamType  = "text/event-stream"
)

// The routes' paths and query parameters.
const (
	pathJobs           = "/api/v1/jobs"
	pathJob            = "/api/v1/jobs/{id}"
	pathJobResults     = "/api/v1/jobs/{id}/results"
	pathJobCancel      = "/api/v1/jobs/{id}/cancel"
	pathJobEvents      = "/api/v1/jobs/{id}/events"
	queryListStates    = "state"
	queryListOperation = "operation"
	queryResultsStatus = "status"
	queryLimit         = "limit"
	queryNext          = "cursor"
)

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Logger receives a line per failed request; nil discards them.
	Logger *slog.Logger
	// RequestID returns the ID of a request, for problem documents and
	// logs; the API passes api.RequestID. Nil leaves it out.
	RequestID func(context.Context) string
	// Heartbeat is how often an idle progress stream gets a comment line;
	// default 15 s.
	Heartbeat time.Duration
}

// Route is one of the job routes, for the API's route list and its
// OpenAPI check.
type Route struct {
	Method string
	// Path is a net/http pattern path, which is also the OpenAPI path.
	Path   string
	Action auth.Action
}

// Routes lists the routes Handler serves and the action each requires.
func Routes() []Route {
	return []Route{
		{http.MethodPost, pathJobs, auth.ActionOperate},
		{http.MethodGet, pathJobs, auth.ActionRead},
		{http.MethodGet, pathJob, auth.ActionRead},
		{http.MethodGet, pathJobResults, auth.ActionRead},
		{http.MethodPost, pathJobCancel, auth.ActionOperate},
		{http.MethodGet, pathJobEvents, auth.ActionRead},
	}
}

// handler serves the job routes.
type handler struct {
	m    *Manager
	opts HandlerOptions
	log  *slog.Logger
}

// handlerFunc is a route: it writes successes and returns errors, which
// one adapter, serve, turns into problem responses.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler serves the job routes under /api/v1/jobs (see Routes). Each
// route checks its action with auth.Require, so requests must come through
// auth.Middleware; the API adds that, and the audit log, around it.
// Errors are RFC 9457 problem documents.
func (m *Manager) Handler(opts HandlerOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = m.cfg.Logger
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = defaultHeartbeat
	}
	h := &handler{m: m, opts: opts, log: opts.Logger.With("component", "jobs-http")}
	funcs := map[string]handlerFunc{
		http.MethodPost + " " + pathJobs:      h.create,
		http.MethodGet + " " + pathJobs:       h.list,
		http.MethodGet + " " + pathJob:        h.show,
		http.MethodGet + " " + pathJobResults: h.results,
		http.MethodPost + " " + pathJobCancel: h.cancel,
		http.MethodGet + " " + pathJobEvents:  h.events,
	}
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		pattern := rt.Method + " " + rt.Path
		mux.Handle(pattern, auth.Require(rt.Action, h.serve(funcs[pattern])))
	}
	// Other methods on these paths, and paths below /api/v1/jobs/ that
	// are none of them.
	for _, p := range []string{pathJobs, pathJobs + "/"} {
		mux.Handle(p, h.serve(func(w http.ResponseWriter, r *http.Request) error { return h.unmatched(mux, w, r) }))
	}
	return mux
}

// serve is the one adapter from handlerFunc to http.Handler.
func (h *handler) serve(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, httpapi.MaxBodyBytes)
		}
		sw := &startedWriter{ResponseWriter: w}
		if err := f(sw, r); err != nil {
			h.writeError(sw, r, err)
		}
	})
}

// startedWriter notes whether a response has begun, so that an error
// after the start of an event stream is only logged.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) WriteHeader(code int) {
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

func (w *startedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (h *handler) create(w http.ResponseWriter, r *http.Request) error {
	var spec Spec
	if err := httpapi.DecodeJSON(r, &spec); err != nil {
		return err
	}
	by := ""
	if t, ok := auth.FromContext(r.Context()); ok {
		by = t.Name
	}
	j, err := h.m.Create(r.Context(), spec, by)
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), fmt.Sprintf("created job %s: %s on %d devices", j.ID, j.Spec.Operation, j.Total))
	w.Header().Set("Location", pathJobs+"/"+j.ID)
	return httpapi.WriteJSON(w, http.StatusCreated, j)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	q, err := httpapi.Query(r, []string{queryListStates, queryListOperation, queryLimit, queryNext})
	if err != nil {
		return err
	}
	limit, err := httpapi.IntParam(q, queryLimit)
	if err != nil {
		return err
	}
	page, err := h.m.List(r.Context(), ListFilter{State: q.Get(queryListStates), Operation: q.Get(queryListOperation)}, limit, q.Get(queryNext))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, page)
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpapi.Query(r, nil); err != nil {
		return err
	}
	j, err := h.m.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, j)
}

func (h *handler) results(w http.ResponseWriter, r *http.Request) error {
	q, err := httpapi.Query(r, []string{queryResultsStatus, queryLimit, queryNext}, queryResultsStatus)
	if err != nil {
		return err
	}
	limit, err := httpapi.IntParam(q, queryLimit)
	if err != nil {
		return err
	}
	page, err := h.m.Results(r.Context(), r.PathValue("id"), httpapi.ListParam(q, queryResultsStatus), limit, q.Get(queryNext))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, page)
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) error {
	var none struct{}
	if err := httpapi.DecodeJSON(r, &none); err != nil {
		return err
	}
	j, err := h.m.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), "canceled job "+j.ID)
	return httpapi.WriteJSON(w, http.StatusOK, j)
}

// events streams a job's progress as Server-Sent Events: a "job" event
// with the whole job at once and after each change, until the job ends
// (the last event has a final state) or the client goes away.
func (h *handler) events(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpapi.Query(r, nil); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch, err := h.m.Watch(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer func() {
		cancel()
		for range ch { // Watch's goroutine ends once ch is closed
		}
	}()
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", eventStreamType)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx must not buffer the stream
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("event stream: %w", err)
	}
	beat := time.NewTicker(h.opts.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil // the client went away
			}
		case j, ok := <-ch:
			if !ok {
				return nil
			}
			b, err := json.Marshal(j)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "event: job\nid: %d\ndata: %s\n\n", j.Done, b); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// unmatched answers requests under /api/v1/jobs no route claims: 405 when
// the path exists with other methods, else 404.
func (h *handler) unmatched(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := mux.Handler(probe); strings.HasPrefix(p, m+" ") {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 || slices.Contains(allow, r.Method) {
		return httpapi.NotFound("No API route matches %s %s.", r.Method, r.URL.Path)
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return &httpapi.Error{Status: http.StatusMethodNotAllowed, Type: TypeMethodNotAllowed, Title: "Method not allowed",
		Detail: fmt.Sprintf("%s does not take %s; it takes %s.", r.URL.Path, r.Method, strings.Join(allow, ", "))}
}

// problemOf maps any error a route returns to its problem.
func problemOf(err error) *httpapi.Error {
	var p *httpapi.Error
	var ve *ValidationError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ve):
		return httpapi.Invalid(ve.Fields...)
	case errors.As(err, &tooBig):
		return httpapi.TooLarge(tooBig)
	case errors.Is(err, ErrInvalid):
		return httpapi.BadRequest("%s", err.Error())
	case errors.Is(err, ErrNotFound):
		return httpapi.NotFound("There is no such job.")
	case errors.Is(err, ErrFinished):
		return httpapi.Conflict("The job has already ended.")
	case errors.Is(err, context.Canceled):
		return httpapi.ClientClosed(err)
	}
	return httpapi.Internal(err)
}

// writeError sends err as a problem and logs it: server failures as
// errors, client mistakes at info level.
func (h *handler) writeError(w *startedWriter, r *http.Request, err error) {
	p := problemOf(err)
	id := ""
	if h.opts.RequestID != nil {
		id = h.opts.RequestID(r.Context())
	}
	level := slog.LevelInfo
	switch {
	case p.Status == httpapi.StatusClientClosedRequest:
		level = slog.LevelDebug
	case p.Status >= 500:
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "request failed", "request_id", id, "method", r.Method, "path", r.URL.Path,
		"status", p.Status, "type", p.Type, "err", err)
	if w.started {
		return // a stream already under way: the log line is all that can be done
	}
	httpapi.WriteProblem(w, p.Document(r.URL.Path, id))
}
