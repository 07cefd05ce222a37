package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reload back-off while NATS is unreachable, and bounds on cleanup.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
	// drainTimeout bounds how long stopping a watch waits for nats.go to
	// finish delivering to it.
	drainTimeout = 2 * time.Second
	// writeTimeout bounds one last_used write.
	writeTimeout = 2 * time.Second
)

// errWatchClosed means nats.go closed a watch's channel, e.g. after it
// failed to re-create its consumer.
var errWatchClosed = errors.New("KV watch closed")

// watch is a KV watch and the cancel func that ends it.
type watch struct {
	w      jetstream.KeyWatcher
	cancel context.CancelFunc
}

func (w *watch) stop() { stopWatch(w.cancel, w.w) }

// stopWatch ends a watch created with a context that cancel cancels, and
// drains its channel until nats.go closes it, so nats.go's goroutine is
// never left blocked on a full channel. Cancelling rather than calling Stop
// does not wait for the server-side consumer's deletion, which takes the
// JetStream timeout when NATS is unreachable.
func stopWatch(cancel context.CancelFunc, w jetstream.KeyWatcher) {
	cancel()
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-deadline.C:
			return
		}
	}
}

// readInitial passes w's initial values to fn, up to the nil entry that
// marks their end; later updates stay queued.
func readInitial(ctx context.Context, w jetstream.KeyWatcher, fn func(jetstream.KeyValueEntry)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errWatchClosed
			}
			if e == nil {
				return nil
			}
			fn(e)
		}
	}
}

// load opens a watch on the bucket and reads every token. The watch
// outlives ctx, which bounds only the load (as does LoadTimeout): the
// context a nats.go watch is created with is also the one that ends it.
func (s *Store) load(ctx context.Context) (*watch, map[string]entry, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	timer := time.AfterFunc(s.cfg.LoadTimeout, cancel)
	stopParent := context.AfterFunc(ctx, cancel)
	snap := map[string]entry{}
	w, err := s.kv.WatchAll(wctx)
	if err == nil {
		err = readInitial(wctx, w, func(e jetstream.KeyValueEntry) {
			if id, en, present := s.fromEntry(e); present {
				snap[id] = en
			}
		})
	}
	inTime, parentLive := timer.Stop(), stopParent()
	if err == nil && inTime && parentLive {
		return &watch{w: w, cancel: cancel}, snap, nil
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case !inTime:
		err = fmt.Errorf("no complete answer within %s: %w", s.cfg.LoadTimeout, cmp.Or(err, context.DeadlineExceeded))
	}
	if w != nil {
		stopWatch(cancel, w)
	}
	cancel()
	return nil, nil, natsError(s.nc, "loading tokens", err)
}

// fromEntry turns a watch entry into the token it now holds, if any. A
// value that does not decode counts as absent: a corrupted token must lock
// its holder out, not keep its old rights.
func (s *Store) fromEntry(e jetstream.KeyValueEntry) (id string, en entry, present bool) {
	id = e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		return id, entry{}, false
	}
	rec, err := decodeRecord(e.Key(), e.Value())
	if err == nil {
		en, err = rec.entry(e.Revision())
	}
	if err != nil {
		s.log.Warn("treating undecodable token as absent", "key", e.Key(), "err", err)
		return id, entry{}, false
	}
	return id, en, true
}

// replace installs a full snapshot.
func (s *Store) replace(snap map[string]entry) {
	s.mu.Lock()
	s.tokens = snap
	s.mu.Unlock()
}

// applyEntry applies one watch update.
func (s *Store) applyEntry(e jetstream.KeyValueEntry) {
	id, en, present := s.fromEntry(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.tokens[id]; ok && old.rev >= e.Revision() {
		return // Create or update already applied this, or something newer
	}
	if present {
		s.tokens[id] = en
	} else {
		delete(s.tokens, id)
	}
}

// applyRecord applies a write this Store made, so that it takes effect
// here before the watch reports it.
func (s *Store) applyRecord(rec record, rev uint64) {
	en, err := rec.entry(rev)
	if err != nil {
		return // validated before writing; cannot happen
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.tokens[rec.ID]; ok && old.rev >= rev {
		return
	}
	s.tokens[rec.ID] = en
}

// Run keeps the in-memory tokens current and writes last_used times until
// ctx ends, then returns nil. It rides out NATS outages: Authenticate keeps
// answering from the last state seen, and after a reconnect, or if the
// watch dies, Run loads everything again, which catches up even when the
// server lost the watch's consumer.
func (s *Store) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("auth: Store.Run is already running")
	}
	defer s.running.Store(false)

	s.initMu.Lock()
	w, status := s.initial, s.status
	s.initial, s.status = nil, nil
	s.initMu.Unlock()
	if status == nil {
		// A second Run, after the first ended and removed Open's listener.
		status = s.nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	}
	defer s.nc.RemoveStatusListener(status)
	defer func() {
		if w != nil {
			w.stop()
		}
	}()

	var (
		retry   *time.Timer
		backoff = minRetry
		closed  bool // the connection is closed for good
	)
	for {
		if !closed && s.nc.IsClosed() {
			closed = true
			s.log.Error("NATS connection closed; serving the last known tokens until shutdown")
		}
		if w == nil && retry == nil && !closed {
			nw, snap, err := s.load(ctx)
			switch {
			case err == nil:
				w, backoff = nw, minRetry
				s.replace(snap)
			case ctx.Err() != nil:
				return nil
			default:
				s.log.Warn("cannot watch tokens; serving the last known state", "err", err, "retry_in", backoff)
				retry = time.NewTimer(backoff)
				backoff = min(2*backoff, maxRetry)
			}
		}
		var updates <-chan jetstream.KeyValueEntry
		if w != nil {
			updates = w.w.Updates()
		}
		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-retryC:
			retry = nil
		case e, ok := <-updates:
			switch {
			case !ok:
				s.log.Warn("token watch lost; reloading", "err", errWatchClosed)
				w.stop()
				w = nil
			case e != nil:
				s.applyEntry(e)
			}
		case st, ok := <-status:
			if !ok {
				status = nil // not expected: nats.go closes it only on request
				continue
			}
			switch st {
			case nats.CONNECTED:
				s.log.Info("NATS reconnected; reloading tokens")
				if w != nil {
					w.stop()
					w = nil
				}
				if retry != nil {
					retry.Stop()
					retry = nil
				}
				backoff = minRetry
			case nats.CLOSED:
				closed = true
			}
		case <-s.touchCh:
			s.writeTouches(ctx)
		}
	}
}

// writeTouches writes the queued last_used times. It is best effort: a use
// that cannot be recorded now is not worth retrying.
func (s *Store) writeTouches(ctx context.Context) {
	s.touchMu.Lock()
	pending := s.pending
	s.pending = map[string]time.Time{}
	now := s.now()
	for id, q := range s.queued {
		if now.Sub(q) >= s.touchEvery {
			delete(s.queued, id) // keeps queued as small as the busy tokens
		}
	}
	s.touchMu.Unlock()

	for id, used := range pending {
		if ctx.Err() != nil {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		_, err := s.update(wctx, id, func(rec *record) bool {
			if !rec.LastUsed.Before(used) {
				return false
			}
			rec.LastUsed = used
			return true
		})
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Debug("cannot record token use", "token_id", id, "err", err)
		}
	}
}
