package creds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reload back-off while NATS is unreachable.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
	// drainTimeout bounds how long stopping a watch waits for nats.go to
	// finish delivering to it.
	drainTimeout = 2 * time.Second
)

// errWatchClosed means nats.go closed a watch's channel, e.g. after it
// failed to re-create its consumer.
var errWatchClosed = errors.New("KV watch closed")

// watchSet is the pair of watches a mirror follows, and the context whose
// cancellation ends their subscriptions.
type watchSet struct {
	cred, rev jetstream.KeyWatcher
	cancel    context.CancelFunc
}

// stop ends both watches.
func (ws *watchSet) stop() {
	stopWatches(ws.cancel, ws.cred, ws.rev)
}

// stopWatches ends watches created with a context that cancel cancels.
// Cancelling, rather than calling Stop, lets nats.go unsubscribe at once and
// then delete the server-side consumer on its own goroutine: Stop waits for
// that deletion, up to the JetStream timeout (5s) when NATS is unreachable.
// The channels are drained until nats.go closes them, so its goroutine is
// never left blocked delivering to a full one.
func stopWatches(cancel context.CancelFunc, watches ...jetstream.KeyWatcher) {
	cancel()
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for _, w := range watches {
		if w == nil {
			continue
		}
	drain:
		for {
			select {
			case _, ok := <-w.Updates():
				if !ok {
					break drain
				}
			case <-deadline.C:
				return
			}
		}
	}
}

// watch opens a watch on each bucket and reads their current contents. The
// watches outlive ctx, which bounds only the load (as does LoadTimeout): the
// context a nats.go watch is created with is also the one that ends it.
func (m *Mirror) watch(ctx context.Context) (*watchSet, snapshot, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ws := &watchSet{cancel: cancel}
	timer := time.AfterFunc(m.cfg.LoadTimeout, cancel)
	stopParent := context.AfterFunc(ctx, cancel)

	snap, err := m.load(wctx, ws)
	inTime, parentLive := timer.Stop(), stopParent()
	if err == nil && inTime && parentLive {
		return ws, snap, nil
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case !inTime:
		err = fmt.Errorf("no complete answer within %s: %w", m.cfg.LoadTimeout, cmp.Or(err, context.DeadlineExceeded))
	}
	ws.stop()
	return nil, snapshot{}, natsError(m.nc, "loading credentials", err)
}

func (m *Mirror) load(ctx context.Context, ws *watchSet) (snapshot, error) {
	snap := snapshot{creds: map[string]credEntry{}, revoked: map[string]revEntry{}}
	var err error
	if ws.cred, err = m.credKV.WatchAll(ctx); err != nil {
		return snap, fmt.Errorf("watching %s: %w", m.cfg.Bucket, err)
	}
	if ws.rev, err = m.revKV.WatchAll(ctx); err != nil {
		return snap, fmt.Errorf("watching %s: %w", m.cfg.RevokedBucket, err)
	}
	err = readInitial(ctx, ws.cred, func(e jetstream.KeyValueEntry) {
		if u, ce, present, ok := m.credFromEntry(e); ok && present {
			snap.creds[u] = ce
		}
	})
	if err != nil {
		return snap, fmt.Errorf("reading %s: %w", m.cfg.Bucket, err)
	}
	err = readInitial(ctx, ws.rev, func(e jetstream.KeyValueEntry) {
		if spec, re, present, ok := m.revFromEntry(e); ok && present {
			snap.revoked[spec] = re
		}
	})
	if err != nil {
		return snap, fmt.Errorf("reading %s: %w", m.cfg.RevokedBucket, err)
	}
	return snap, nil
}

// readInitial passes w's initial values to fn, up to the nil entry that
// marks their end; later updates stay queued for Run.
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

// Run applies changes as they happen until ctx ends, then returns nil. It
// rides out NATS outages: while the connection is down the mirror keeps its
// last state (and Healthy reports false); once nats.go reconnects, or if a
// watch dies, Run opens new watches and reports whatever changed meanwhile.
// Reloading after every reconnect, rather than trusting nats.go's ordered
// consumer to recover, catches up at once even when the server restarted
// and lost the consumer.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("creds: Mirror.Run is already running")
	}
	defer m.running.Store(false)

	m.initMu.Lock()
	ws, status := m.initial, m.status
	m.initial = nil
	m.initMu.Unlock()
	if ws == nil {
		// A second Run, after the first ended: NewMirror's listener is gone.
		status = m.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	}
	defer m.nc.RemoveStatusListener(status)
	defer func() {
		if ws != nil {
			ws.stop()
		}
		m.healthy.Store(false)
	}()

	var (
		retry   *time.Timer
		backoff = minRetry
		closed  bool // the connection is closed for good
	)
	for {
		if !closed && m.nc.IsClosed() {
			// Closed before Run listened for status changes.
			m.log.Error("NATS connection closed; serving the last known credentials until shutdown")
			closed = true
			m.lost(&ws, nats.ErrConnectionClosed)
		}
		if ws == nil && retry == nil && !closed && !m.nc.IsConnected() {
			// Nothing to try until nats.go reconnects, which the CONNECTED
			// event reports; the timer is only a safety net.
			retry = time.NewTimer(maxRetry)
		}
		if ws == nil && retry == nil && !closed {
			var err error
			var snap snapshot
			ws, snap, err = m.watch(ctx)
			switch {
			case err == nil:
				if !m.healthy.Swap(true) {
					m.log.Info("watching credentials again")
				}
				backoff = minRetry
				m.notify(m.replace(snap)...)
			case ctx.Err() != nil:
				return nil
			default:
				m.healthy.Store(false)
				m.log.Warn("cannot watch credentials; serving the last known state", "err", err, "retry_in", backoff)
				retry = time.NewTimer(backoff)
				backoff = min(2*backoff, maxRetry)
			}
		}

		var credCh, revCh <-chan jetstream.KeyValueEntry
		if ws != nil {
			credCh, revCh = ws.cred.Updates(), ws.rev.Updates()
		}
		var retryCh <-chan time.Time
		if retry != nil {
			retryCh = retry.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-retryCh:
			retry = nil
		case e, ok := <-credCh:
			switch {
			case !ok:
				m.lost(&ws, errWatchClosed)
			case e != nil:
				m.applyCred(e)
			}
		case e, ok := <-revCh:
			switch {
			case !ok:
				m.lost(&ws, errWatchClosed)
			case e != nil:
				m.applyRevocation(e)
			}
		case st, ok := <-status:
			if !ok {
				status = nil // not expected: nats.go closes it only on request
				continue
			}
			switch st {
			case nats.CONNECTED:
				m.log.Info("NATS reconnected; reloading credentials")
				if ws != nil {
					ws.stop()
					ws = nil
				}
				if retry != nil {
					retry.Stop()
					retry = nil
				}
				backoff = minRetry
			case nats.CLOSED:
				if !closed {
					m.log.Error("NATS connection closed; serving the last known credentials until shutdown")
					closed = true
					m.lost(&ws, nats.ErrConnectionClosed)
				}
			default:
				if m.healthy.Swap(false) {
					m.log.Warn("NATS disconnected; serving the last known credentials", "status", st.String())
				}
			}
		}
	}
}

// lost stops a watch set that can no longer be trusted; the Run loop opens
// a new one.
func (m *Mirror) lost(ws **watchSet, why error) {
	m.healthy.Store(false)
	if *ws != nil {
		m.log.Warn("credentials watch lost", "err", why)
		(*ws).stop()
		*ws = nil
	}
}
