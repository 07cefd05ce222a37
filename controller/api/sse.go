package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// sse is one Server-Sent Events response: the events stream, the traffic
// stream and the stats stream.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// writeWait bounds each write: one that blocks this long means the
	// client stopped reading.
	writeWait time.Duration
}

// openSSE starts an event stream: it marks the request as streaming (its
// duration stays out of the latency metrics), sends the headers, a
// comment naming the stream and the client's retry delay. Call the
// returned func when the stream ends.
func (a *API) openSSE(w http.ResponseWriter, r *http.Request, name string) (*sse, func(), error) {
	infoFrom(r.Context()).setStreaming()
	a.metrics.streams.Inc()
	rc := http.NewResponseController(w)
	done := func() {
		// A kept-alive connection must not inherit the stream's deadline.
		_ = rc.SetWriteDeadline(time.Time{})
		a.metrics.streams.Dec()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: rc, writeWait: 2*a.cfg.Heartbeat + 10*time.Second}
	if err := s.send(fmt.Appendf(nil, ": cuttle %s stream\nretry: 3000\n\n", name)); err != nil {
		done()
		return nil, nil, clientGone(err)
	}
	return s, done, nil
}

// send writes b and flushes it. Errors mean the client is gone.
func (s *sse) send(b []byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeWait)) // unsupported by some writers; then the server's timeouts apply
	if _, err := s.w.Write(b); err != nil {
		return clientGone(err)
	}
	if err := s.rc.Flush(); err != nil {
		return clientGone(err)
	}
	return nil
}

// event writes one event; id may be "" (no id line). data must be one
// line, as JSON without indentation is.
func (s *sse) event(id, typ string, data []byte) error {
	var b []byte
	if id != "" {
		b = fmt.Appendf(b, "id: %s\n", id)
	}
	b = fmt.Appendf(b, "event: %s\ndata: %s\n\n", typ, data)
	return s.send(b)
}

// heartbeat writes a comment line, which keeps proxies from closing an
// idle stream and lets the client notice a dead connection.
func (s *sse) heartbeat() error { return s.send([]byte(": heartbeat\n\n")) }

// follow writes each item feed delivers with send, and a heartbeat every
// interval, until ctx ends, feed closes or a write fails. before, when not
// nil, runs ahead of every write (the traffic stream reports lost
// messages there).
func follow[T any](ctx context.Context, s *sse, interval time.Duration, feed <-chan T, before func() error, send func(T) error) error {
	heartbeat := time.NewTicker(interval)
	defer heartbeat.Stop()
	for {
		write := s.heartbeat
		select {
		case <-ctx.Done():
			return nil
		case <-heartbeat.C:
		case item, ok := <-feed:
			if !ok {
				return nil
			}
			write = func() error { return send(item) }
		}
		if before != nil {
			if err := before(); err != nil {
				return err
			}
		}
		if err := write(); err != nil {
			return err
		}
	}
}

// streamStart reads where a stream starts, for the event and traffic
// streams: after the ID in Last-Event-ID (what browsers send when they
// reconnect), else in the "after" parameter; "from=start" replays
// everything still kept. With none of them (or after=0), the stream
// carries only what happens next.
func streamStart(r *http.Request, q url.Values) (after uint64, fromStart bool, err error) {
	if after, err = uintParam(q, "after"); err != nil {
		return 0, false, err
	}
	switch q.Get("from") {
	case "":
	case "start":
		if q.Has("after") {
			return 0, false, Invalid(FieldError{Field: "from", Message: "give from=start or after, not both"})
		}
		fromStart = true
	default:
		return 0, false, Invalid(FieldError{Field: "from", Message: fmt.Sprintf("%q is not \"start\"", q.Get("from"))})
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, false, Invalid(FieldError{Field: "Last-Event-ID", Message: fmt.Sprintf("%q is not an event ID", s)})
		}
		fromStart = false
	}
	return after, fromStart, nil
}
