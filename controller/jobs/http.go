package jobs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"cuttle/controller/auth"
)

// Problem types (RFC 9457 "type" members): the API's, so that clients
// see one set.
const (
	problemBase          = "https://cuttle.dev/problems/"
	TypeNotFound         = problemBase + "not-found"
	TypeInvalidRequest   = problemBase + "invalid-request"
	TypeConflict         = problemBase + "conflict"
	TypeMethodNotAllowed = problemBase + "method-not-allowed"
	TypePayloadTooLarge  = problemBase + "payload-too-large"
	TypeUnsupportedMedia = problemBase + "unsupported-media-type"
	TypeInternal         = problemBase + "internal"
)

const (
	statusClientClosed = 499 // nginx's convention; never reaches the client
	maxBodyBytes       = 1 << 20
	defaultHeartbeat   = 15 * time.Second
	problemContentType = "application/problem+json"
	eventStreamType    = "text/event-stream"
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
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
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
	if err := decodeJSON(r, &spec); err != nil {
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
	return writeJSON(w, http.StatusCreated, j)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, queryListStates, queryListOperation, queryLimit, queryNext)
	if err != nil {
		return err
	}
	limit, err := intParam(q, queryLimit)
	if err != nil {
		return err
	}
	page, err := h.m.List(r.Context(), ListFilter{State: q.Get(queryListStates), Operation: q.Get(queryListOperation)}, limit, q.Get(queryNext))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	j, err := h.m.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

func (h *handler) results(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, queryResultsStatus, queryLimit, queryNext)
	if err != nil {
		return err
	}
	limit, err := intParam(q, queryLimit)
	if err != nil {
		return err
	}
	var statuses []string
	for _, v := range q[queryResultsStatus] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				statuses = append(statuses, s)
			}
		}
	}
	page, err := h.m.Results(r.Context(), r.PathValue("id"), statuses, limit, q.Get(queryNext))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (h *handler) cancel(w http.ResponseWriter, r *http.Request) error {
	var none struct{}
	if err := decodeJSON(r, &none); err != nil {
		return err
	}
	j, err := h.m.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), "canceled job "+j.ID)
	return writeJSON(w, http.StatusOK, j)
}

// events streams a job's progress as Server-Sent Events: a "job" event
// with the whole job at once and after each change, until the job ends
// (the last event has a final state) or the client goes away.
func (h *handler) events(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
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
		return &problem{Status: http.StatusNotFound, Type: TypeNotFound, Title: "Not found",
			Detail: fmt.Sprintf("No API route matches %s %s.", r.Method, r.URL.Path)}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	return &problem{Status: http.StatusMethodNotAllowed, Type: TypeMethodNotAllowed, Title: "Method not allowed",
		Detail: fmt.Sprintf("%s does not take %s; it takes %s.", r.URL.Path, r.Method, strings.Join(allow, ", "))}
}

// problem is an RFC 9457 problem document, and the error that becomes
// one.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
	cause     error
}

func (p *problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func invalid(fields ...FieldError) *problem {
	detail := "The request has invalid fields."
	if len(fields) == 1 {
		detail = fields[0].Field + ": " + fields[0].Message
	}
	return &problem{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Title: "Invalid request", Detail: detail, Errors: fields}
}

func badRequest(format string, args ...any) *problem {
	return &problem{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Title: "Invalid request", Detail: fmt.Sprintf(format, args...)}
}

// problemOf maps any error a route returns to its problem.
func problemOf(err error) *problem {
	var p *problem
	var ve *ValidationError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &ve):
		return invalid(ve.Fields...)
	case errors.As(err, &tooBig):
		return &problem{Status: http.StatusRequestEntityTooLarge, Type: TypePayloadTooLarge, Title: "Payload too large",
			Detail: fmt.Sprintf("The request body is larger than %d bytes.", tooBig.Limit)}
	case errors.Is(err, ErrInvalid):
		return badRequest("%s", err.Error())
	case errors.Is(err, ErrNotFound):
		return &problem{Status: http.StatusNotFound, Type: TypeNotFound, Title: "Not found", Detail: "There is no such job."}
	case errors.Is(err, ErrFinished):
		return &problem{Status: http.StatusConflict, Type: TypeConflict, Title: "Conflict", Detail: "The job has already ended."}
	case errors.Is(err, context.Canceled):
		return &problem{Status: statusClientClosed, Type: TypeInternal, Title: "Client closed the request", cause: err}
	}
	return &problem{Status: http.StatusInternalServerError, Type: TypeInternal, Title: "Internal error",
		Detail: "The server failed to handle the request; its logs say why, under this request_id.", cause: err}
}

// writeError sends err as a problem and logs it: server failures as
// errors, client mistakes at info level.
func (h *handler) writeError(w *startedWriter, r *http.Request, err error) {
	p := *problemOf(err)
	p.Instance = r.URL.Path
	if h.opts.RequestID != nil {
		p.RequestID = h.opts.RequestID(r.Context())
	}
	level := slog.LevelInfo
	switch {
	case p.Status == statusClientClosed:
		level = slog.LevelDebug
	case p.Status >= 500:
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "request failed", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path,
		"status", p.Status, "type", p.Type, "err", err)
	if w.started {
		return // a stream already under way: the log line is all that can be done
	}
	body, _ := json.Marshal(p) // cannot fail: strings and ints
	hdr := w.Header()
	hdr.Set("Content-Type", problemContentType)
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failure means the client went away
	return nil
}

// decodeJSON reads r's JSON body into v: an empty body leaves v alone;
// otherwise it must be application/json, one value, no unknown fields.
func decodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return &problem{Status: http.StatusUnsupportedMediaType, Type: TypeUnsupportedMedia, Title: "Unsupported media type",
			Detail: "The body must be JSON with Content-Type application/json."}
	}
	dec := json.NewDecoder(br)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.As(err, &syntax):
			return badRequest("The body is not valid JSON: %v (at byte %d).", syntax, syntax.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("The body is truncated JSON.")
		}
		f := decodeFieldError("", err)
		f.Field = strings.TrimPrefix(f.Field, ".")
		if f.Field == "" {
			return badRequest("The body could not be decoded: %s.", f.Message)
		}
		return invalid(f)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("The body must hold a single JSON value, with nothing after it.")
	}
	return nil
}

// query checks that r's query string holds only the allowed parameters,
// each once, and returns it: a typo in a filter must not widen a result.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q := r.URL.Query()
	var bad []FieldError
	for k, vs := range q {
		switch {
		case !slices.Contains(allowed, k):
			bad = append(bad, FieldError{Field: k, Message: "unknown query parameter"})
		case len(vs) > 1 && k != queryResultsStatus:
			bad = append(bad, FieldError{Field: k, Message: "given more than once"})
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
		return nil, invalid(bad...)
	}
	return q, nil
}

func intParam(q url.Values, name string) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, invalid(FieldError{Field: name, Message: fmt.Sprintf("%q is not a non-negative integer", s)})
	}
	return n, nil
}
