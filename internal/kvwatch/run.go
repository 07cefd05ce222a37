package kvwatch

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Run passes on changes until ctx ends, then returns nil. It takes over w,
// a Watch that Open returned, or loads the buckets itself when w is nil.
// status should be a listener for the connection's CONNECTED and CLOSED
// events (DISCONNECTED and RECONNECTING too, for Healthy to follow them)
// registered before w was opened, so that no reconnect in between is
// missed; when nil, Run registers one. Run removes status and stops its
// watch when it returns.
//
// While the connection is down the copy stays as it was. After every
// reconnect, and whenever a watch fails, Run loads the buckets again.
func (f *Follower) Run(ctx context.Context, w *Watch, status chan nats.Status) error {
	healthy := f.Healthy
	if healthy == nil {
		healthy = new(atomic.Bool)
	}
	if w != nil {
		healthy.Store(true)
	}
	if status == nil {
		status = f.Conn.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	}
	defer f.Conn.RemoveStatusListener(status)
	defer func() {
		if w != nil {
			w.Stop()
		}
		healthy.Store(false)
	}()

	var (
		retry   *time.Timer
		backoff = MinRetry
		closed  bool // the connection is closed for good
	)
	for {
		if !closed && f.Conn.IsClosed() {
			// Closed before Run listened for status changes.
			closed = true
			f.lost(&w, healthy, nats.ErrConnectionClosed)
		}
		if w == nil && retry == nil && !closed && !f.Conn.IsConnected() {
			// Nothing to try until nats.go reconnects, which the CONNECTED
			// event reports; the timer is only a safety net.
			retry = time.NewTimer(MaxRetry)
		}
		if w == nil && retry == nil && !closed {
			var err error
			w, err = f.Open(ctx)
			switch {
			case err == nil:
				if !healthy.Swap(true) {
					f.Log.Info("following " + f.What + " again")
				}
				backoff = MinRetry
			case ctx.Err() != nil:
				return nil
			default:
				healthy.Store(false)
				f.Log.Warn("cannot load "+f.What+"; serving the last known state", "err", err, "retry_in", backoff)
				retry = time.NewTimer(backoff)
				backoff = min(2*backoff, MaxRetry)
			}
		}

		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C
		}
		switch ev := wait(ctx, retryC, status, w); ev.kind {
		case evDone:
			return nil
		case evRetry:
			retry = nil
		case evClosed:
			f.lost(&w, healthy, ErrWatchClosed)
		case evEntry:
			if ev.entry != nil {
				f.Live(ev.entry)
			}
		case evStatusGone:
			status = nil // not expected: nats.go closes it only on request
		case evStatus:
			switch ev.status {
			case nats.CONNECTED:
				f.Log.Info("NATS reconnected; reloading " + f.What)
				if w != nil {
					w.Stop()
					w = nil
				}
				if retry != nil {
					retry.Stop()
					retry = nil
				}
				backoff = MinRetry
			case nats.CLOSED:
				if !closed {
					closed = true
					f.lost(&w, healthy, nats.ErrConnectionClosed)
				}
			default:
				if healthy.Swap(false) {
					f.Log.Warn("NATS disconnected; serving the last known "+f.What, "status", ev.status.String())
				}
			}
		}
	}
}

// lost stops a watch that can no longer be trusted; Run opens a new one.
func (f *Follower) lost(w **Watch, healthy *atomic.Bool, why error) {
	healthy.Store(false)
	if errors.Is(why, nats.ErrConnectionClosed) {
		f.Log.Error("NATS connection closed; serving the last known " + f.What + " until shutdown")
	}
	if *w != nil {
		f.Log.Warn(f.What+" watch lost", "err", why)
		(*w).Stop()
		*w = nil
	}
}

// What wait saw.
const (
	evDone       = iota // ctx ended
	evRetry             // the retry timer fired
	evStatus            // a connection status change
	evStatusGone        // the status channel was closed
	evEntry             // an entry, or nil, from one of the watches
	evClosed            // a watch's channel was closed
)

type event struct {
	kind   int
	status nats.Status
	entry  jetstream.KeyValueEntry
}

// wait blocks until ctx ends, retry fires, status delivers or one of w's
// watches does. A nil channel, or w, never delivers. The number of watches
// varies, so the select is built at run time.
func wait(ctx context.Context, retry <-chan time.Time, status chan nats.Status, w *Watch) event {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(retry)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(status)},
	}
	if w != nil {
		for _, kw := range w.watchers {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(kw.Updates())})
		}
	}
	chosen, v, ok := reflect.Select(cases)
	switch {
	case chosen == 0:
		return event{kind: evDone}
	case chosen == 1:
		return event{kind: evRetry}
	case chosen == 2 && !ok:
		return event{kind: evStatusGone}
	case chosen == 2:
		st, _ := v.Interface().(nats.Status)
		return event{kind: evStatus, status: st}
	case !ok:
		return event{kind: evClosed}
	}
	e, _ := v.Interface().(jetstream.KeyValueEntry)
	return event{kind: evEntry, entry: e}
}
