package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/natskv"
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

// follower keeps one KV bucket's watch open and passes what it delivers
// on: the whole bucket at first and after every reconnect (load), then each
// change (live). Reloading after a reconnect, rather than trusting nats.go's
// ordered consumer to recover, catches up at once even when the server
// restarted and lost the consumer. The device index and WatchPresence both
// follow a bucket this way.
type follower struct {
	what    string // what the bucket holds, for messages
	kv      jetstream.KeyValue
	nc      *nats.Conn
	log     *slog.Logger
	timeout time.Duration
	// load begins a load and returns the function taking each record of
	// the bucket and the one called once all are in. A load that fails
	// half-way is never finished.
	load func() (add func(jetstream.KeyValueEntry), done func())
	live func(jetstream.KeyValueEntry)

	healthy atomic.Bool
	running atomic.Bool

	// initial holds the watch start loaded through, until run takes it
	// over. status receives the connection's state changes from start on,
	// so none between start and run is missed.
	initMu  sync.Mutex // guards initial and status
	initial *liveWatch
	status  chan nats.Status
}

// liveWatch is an open watch and what ends it.
type liveWatch struct {
	w      jetstream.KeyWatcher
	cancel context.CancelFunc
}

// stop ends the watch. Cancelling its context, rather than calling Stop,
// lets nats.go unsubscribe at once and delete the server-side consumer on
// its own goroutine: Stop waits for that, up to the JetStream timeout when
// NATS is unreachable. The channel is drained until nats.go closes it, so
// its goroutine is never left blocked delivering to a full one.
func (lw *liveWatch) stop() {
	lw.cancel()
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	if lw.w == nil {
		return
	}
	for {
		select {
		case _, ok := <-lw.w.Updates():
			if !ok {
				return
			}
		case <-deadline.C:
			return
		}
	}
}

// start loads the bucket once, failing if NATS does not answer in time,
// and keeps the watch for run.
func (f *follower) start(ctx context.Context) error {
	status := f.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	lw, err := f.watch(ctx)
	if err != nil {
		f.nc.RemoveStatusListener(status)
		return err
	}
	f.initMu.Lock()
	f.initial, f.status = lw, status
	f.initMu.Unlock()
	f.healthy.Store(true)
	return nil
}

// watch opens a watch and loads the bucket through it. The watch outlives
// ctx, which bounds only the load (as does f.timeout, between records): the
// context a nats.go watch is created with is also the one that ends it.
func (f *follower) watch(ctx context.Context) (*liveWatch, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	lw := &liveWatch{cancel: cancel}
	timer := time.AfterFunc(f.timeout, cancel)
	stopParent := context.AfterFunc(ctx, cancel)

	err := f.loadThrough(wctx, lw, timer)
	inTime, parentLive := timer.Stop(), stopParent()
	if err == nil && inTime && parentLive && wctx.Err() == nil {
		return lw, nil
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case !inTime || wctx.Err() != nil:
		err = fmt.Errorf("no answer within %s: %w", f.timeout, cmp.Or(err, context.DeadlineExceeded))
	}
	lw.stop()
	return nil, natsError(f.nc, "loading "+f.what, err)
}

// loadThrough reads the initial records, up to the nil entry that marks
// their end; later changes stay queued for run. Each record re-arms timer.
func (f *follower) loadThrough(ctx context.Context, lw *liveWatch, timer *time.Timer) error {
	var err error
	if lw.w, err = f.kv.WatchAll(ctx); err != nil {
		return fmt.Errorf("watching bucket %s: %w", f.kv.Bucket(), err)
	}
	add, done := f.load()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-lw.w.Updates():
			if !ok {
				return errWatchClosed
			}
			if e == nil {
				done()
				return nil
			}
			add(e)
			timer.Reset(f.timeout)
		}
	}
}

// run passes on changes until ctx ends, then returns nil, reloading after
// every reconnect and whenever a watch fails.
func (f *follower) run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return fmt.Errorf("inventory: already following %s", f.what)
	}
	defer f.running.Store(false)

	f.initMu.Lock()
	lw, status := f.initial, f.status
	f.initial, f.status = nil, nil
	f.initMu.Unlock()
	if status == nil {
		// Not started, or a second run after the first ended.
		status = f.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	}
	defer f.nc.RemoveStatusListener(status)
	defer func() {
		if lw != nil {
			lw.stop()
		}
		f.healthy.Store(false)
	}()

	var (
		retry   *time.Timer
		backoff = minRetry
		closed  bool // the connection is closed for good
	)
	for {
		if !closed && f.nc.IsClosed() {
			closed = true
			f.lost(&lw, nats.ErrConnectionClosed)
		}
		if lw == nil && retry == nil && !closed && !f.nc.IsConnected() {
			// Nothing to try until nats.go reconnects, which the CONNECTED
			// event reports; the timer is only a safety net.
			retry = time.NewTimer(maxRetry)
		}
		if lw == nil && retry == nil && !closed {
			var err error
			lw, err = f.watch(ctx)
			switch {
			case err == nil:
				if !f.healthy.Swap(true) {
					f.log.Info("following " + f.what + " again")
				}
				backoff = minRetry
			case ctx.Err() != nil:
				return nil
			default:
				f.healthy.Store(false)
				f.log.Warn("cannot load "+f.what+"; serving the last known state", "err", err, "retry_in", backoff)
				retry = time.NewTimer(backoff)
				backoff = min(2*backoff, maxRetry)
			}
		}

		var updates <-chan jetstream.KeyValueEntry
		if lw != nil {
			updates = lw.w.Updates()
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
		case e, ok := <-updates:
			switch {
			case !ok:
				f.lost(&lw, errWatchClosed)
			case e != nil:
				f.live(e)
			}
		case st, ok := <-status:
			if !ok {
				status = nil // not expected: nats.go closes it only on request
				continue
			}
			switch st {
			case nats.CONNECTED:
				f.log.Info("NATS reconnected; reloading " + f.what)
				if lw != nil {
					lw.stop()
					lw = nil
				}
				if retry != nil {
					retry.Stop()
					retry = nil
				}
				backoff = minRetry
			case nats.CLOSED:
				if !closed {
					closed = true
					f.lost(&lw, nats.ErrConnectionClosed)
				}
			default:
				if f.healthy.Swap(false) {
					f.log.Warn("NATS disconnected; serving the last known "+f.what, "status", st.String())
				}
			}
		}
	}
}

// lost stops a watch that can no longer be trusted; run opens a new one.
func (f *follower) lost(lw **liveWatch, why error) {
	f.healthy.Store(false)
	if errors.Is(why, nats.ErrConnectionClosed) {
		f.log.Error("NATS connection closed; serving the last known " + f.what + " until shutdown")
	}
	if *lw != nil {
		f.log.Warn(f.what+" watch lost", "err", why)
		(*lw).stop()
		*lw = nil
	}
}

// Shared NATS plumbing (internal/natskv).
var (
	openBucket = natskv.OpenBucket
	natsError  = natskv.Error
)
