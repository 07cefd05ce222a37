package auth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
)

// writeTimeout bounds one last_used write.
const writeTimeout = 2 * time.Second

// follower keeps the tokens current: a reload replaces them all, and each
// change after it goes through applyEntry.
func (s *Store) follower() *kvwatch.Follower {
	return &kvwatch.Follower{
		Conn:        s.nc,
		Buckets:     []jetstream.KeyValue{s.kv},
		What:        "tokens",
		Log:         s.log,
		LoadTimeout: s.cfg.LoadTimeout,
		Load: func() (func(jetstream.KeyValueEntry), func()) {
			snap := map[string]entry{}
			return s.collect(snap), func() { s.replace(snap) }
		},
		Live: s.applyEntry,
	}
}

// load opens a watch on the bucket and reads every token, which Open
// installs.
func (s *Store) load(ctx context.Context) (*kvwatch.Watch, map[string]entry, error) {
	snap := map[string]entry{}
	f := s.follower()
	f.Load = func() (func(jetstream.KeyValueEntry), func()) { return s.collect(snap), nil }
	w, err := f.Open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return w, snap, nil
}

// collect returns the function adding a watch entry's token to snap.
func (s *Store) collect(snap map[string]entry) func(jetstream.KeyValueEntry) {
	return func(e jetstream.KeyValueEntry) {
		if id, en, present := s.fromEntry(e); present {
			snap[id] = en
		}
	}
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
	s.initial, s.status = nil, nil // a second Run registers its own listener
	s.initMu.Unlock()

	var touches sync.WaitGroup
	defer touches.Wait()
	touches.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.touchCh:
				s.writeTouches(ctx)
			}
		}
	})
	return s.follower().Run(ctx, w, status)
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
