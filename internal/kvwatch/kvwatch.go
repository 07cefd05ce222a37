// Package kvwatch keeps an in-memory copy of NATS JetStream KV buckets
// current through KV watches, and rides out NATS outages meanwhile. Three
// packages mirror buckets this way: broker/creds (the credentials and
// revoked-certificate buckets, which CONNECT and ACL checks read), and
// controller/auth (operator tokens) and devices/inventory (the device
// records, and the presence bucket) in the controller.
//
// What they share, and this package does once: open a watch per bucket
// (WatchAll), read the initial values up to the nil entry that marks their
// end, install them as a whole, then apply each update or delete as it
// comes. A NATS outage must not take the copy away: a broker keeps
// admitting devices from its mirror while NATS is down. So on a
// disconnect the copy stays as it was (and reports itself unhealthy); on a
// reconnect, or when nats.go closes a watch, the watches are stopped and
// the buckets loaded afresh, with back-off between failed attempts.
// Reloading, rather than trusting nats.go's ordered consumer to resume,
// catches up at once even when the server restarted and lost the consumer,
// and a full load is the only way to learn of keys deleted meanwhile.
//
// Where they differ, which stays with each package through Load and Live:
//
//   - broker/creds follows two buckets in one Follower, so that a reload
//     replaces credentials and revocations together, and tells them apart
//     by KeyValueEntry.Bucket. It reports the difference a reload made to
//     its subscribers, but not that of the first load.
//   - controller/auth applies its own writes before the watch delivers
//     them, so its Live skips entries no newer than what it holds; a
//     reload replaces the whole map.
//   - devices/inventory builds a new index during a load and swaps it in
//     at the end, reporting the difference; a large inventory loads for
//     longer than LoadTimeout, so the timeout bounds the wait for each
//     next entry (PerEntryTimeout). Its presence follower counts afresh on
//     each load.
//   - Deletes and purges (any operation other than a put) remove a key in
//     all of them, and so does a value that does not decode: a corrupted
//     record must lock its owner out, not keep the old rights.
//   - creds and inventory report Healthy, which the broker's and the API's
//     health checks read; auth reports nothing. None counts metrics. All
//     three log through their own logger and component; the messages (a
//     disconnect, a reconnect and reload, a lost watch, a failed load, a
//     closed connection) are this package's, naming the What of each.
package kvwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/natskv"
)

// Back-off between reload attempts while NATS is unreachable.
const (
	MinRetry = 100 * time.Millisecond
	MaxRetry = 5 * time.Second
)

// drainTimeout bounds how long stopping a watch waits for nats.go to finish
// delivering to it.
const drainTimeout = 2 * time.Second

// ErrWatchClosed means nats.go closed a watch's channel, e.g. after it
// failed to re-create its consumer.
var ErrWatchClosed = errors.New("KV watch closed")

// Follower keeps one or more buckets followed. It holds no state of its
// own beyond Healthy, so a value may be built afresh for each call.
type Follower struct {
	// Conn is the connection the buckets were opened on; it should
	// reconnect forever.
	Conn *nats.Conn
	// Buckets are loaded in this order, and then followed together.
	Buckets []jetstream.KeyValue
	// What names what the buckets hold, for messages ("credentials").
	What string
	// Log receives operational messages.
	Log *slog.Logger
	// LoadTimeout bounds a load: the whole of it, or with PerEntryTimeout
	// the wait for each next entry, so that a large bucket may take longer
	// in total while an unreachable NATS still fails within it.
	LoadTimeout     time.Duration
	PerEntryTimeout bool
	// Healthy, when not nil, is set while the watches are live, and
	// cleared on a disconnect, a lost watch, a failed load and when Run
	// returns. Open leaves it alone.
	Healthy *atomic.Bool

	// Load begins a load of every bucket: add receives each entry present
	// (deletes included), and done is called once all are in. A load that
	// fails half-way is abandoned without done.
	Load func() (add func(jetstream.KeyValueEntry), done func())
	// Live receives each change after a load, in order per bucket.
	Live func(jetstream.KeyValueEntry)
}

// Watch is an open watch on each of a Follower's buckets, loaded through.
type Watch struct {
	watchers []jetstream.KeyWatcher
	cancel   context.CancelFunc
}

// Stop ends the watches; see StopWatchers.
func (w *Watch) Stop() { StopWatchers(w.cancel, w.watchers...) }

// StopWatchers ends watches created with a context that cancel cancels.
// Cancelling, rather than calling Stop, lets nats.go unsubscribe at once
// and then delete the server-side consumer on its own goroutine: Stop
// waits for that deletion, up to the JetStream timeout (5s) when NATS is
// unreachable. The channels are drained until nats.go closes them, or for
// two seconds at most, so its goroutine is never left blocked delivering
// to a full one.
func StopWatchers(cancel context.CancelFunc, watchers ...jetstream.KeyWatcher) {
	cancel()
	deadline := time.NewTimer(drainTimeout)
	defer deadline.Stop()
	for _, w := range watchers {
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

// ReadInitial passes w's initial values to fn, up to the nil entry that
// marks their end; later updates stay queued.
func ReadInitial(ctx context.Context, w jetstream.KeyWatcher, fn func(jetstream.KeyValueEntry)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return ErrWatchClosed
			}
			if e == nil {
				return nil
			}
			fn(e)
		}
	}
}

// ReadAll calls fn for the current value of every key of kv (deleted keys
// left out), oldest revision first, in one pass over the bucket instead of
// a request per key, and returns once the last one has been read.
//
// A watch's nil entry alone does not mark that: a key written while the
// watch is being created can be left out of the initial values and come
// after the nil entry, as an update (a token in use, whose last use is
// recorded, went missing from `cuttle token ls`). So after the nil entry
// ReadAll reads on until it has seen the bucket's last revision as of that
// moment. A mirror that keeps its watch open gets such a key a moment
// later anyway; a one-off read does not.
func ReadAll(ctx context.Context, kv jetstream.KeyValue, fn func(jetstream.KeyValueEntry)) error {
	ctx, cancel := context.WithCancel(ctx)
	// Deletes are read too: the bucket's last revision may be one.
	w, err := kv.WatchAll(ctx)
	if err != nil {
		cancel()
		return err
	}
	defer StopWatchers(cancel, w)
	latest := map[string]jetstream.KeyValueEntry{}
	var seen uint64
	take := func(e jetstream.KeyValueEntry) {
		latest[e.Key()] = e
		seen = max(seen, e.Revision())
	}
	if err := ReadInitial(ctx, w, take); err != nil {
		return err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return err
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		last := bs.StreamInfo().State.LastSeq
		// The last revision may also be gone (a bucket with a TTL): a
		// quiet watch ends the wait.
		quiet := time.NewTimer(readAllQuiet)
		defer quiet.Stop()
		for seen < last {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-quiet.C:
				last = 0
			case e, ok := <-w.Updates():
				if !ok {
					return ErrWatchClosed
				}
				if e != nil {
					take(e)
				}
				quiet.Reset(readAllQuiet)
			}
		}
	}
	entries := slices.Collect(maps.Values(latest))
	slices.SortFunc(entries, func(a, b jetstream.KeyValueEntry) int { return cmp.Compare(a.Revision(), b.Revision()) })
	for _, e := range entries {
		if e.Operation() == jetstream.KeyValuePut {
			fn(e)
		}
	}
	return nil
}

// readAllQuiet is how long ReadAll waits for a revision it expects when
// nothing arrives.
const readAllQuiet = 250 * time.Millisecond

// Open opens a watch on each bucket and loads them through f.Load. The
// watches outlive ctx, which bounds only the load (as does LoadTimeout):
// the context a nats.go watch is created with is also the one that ends
// it. The error names the NATS problem.
func (f *Follower) Open(ctx context.Context) (*Watch, error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &Watch{cancel: cancel}
	timer := time.AfterFunc(f.LoadTimeout, cancel)
	stopParent := context.AfterFunc(ctx, cancel)

	done, err := f.load(wctx, w, timer)
	inTime, parentLive := timer.Stop(), stopParent()
	if err == nil && inTime && parentLive && wctx.Err() == nil {
		if done != nil {
			done()
		}
		return w, nil
	}
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case !inTime || wctx.Err() != nil:
		if err == nil {
			err = context.DeadlineExceeded
		}
		err = fmt.Errorf("no answer within %s: %w", f.LoadTimeout, err)
	}
	w.Stop()
	return nil, natskv.Error(f.Conn, "loading "+f.What, err)
}

// load opens the watches and reads every bucket's initial values, and
// returns the function that installs them.
func (f *Follower) load(ctx context.Context, w *Watch, timer *time.Timer) (done func(), err error) {
	for _, kv := range f.Buckets {
		kw, err := kv.WatchAll(ctx)
		if err != nil {
			return nil, fmt.Errorf("watching bucket %s: %w", kv.Bucket(), err)
		}
		w.watchers = append(w.watchers, kw)
	}
	add, done := f.Load()
	for n, kw := range w.watchers {
		err := ReadInitial(ctx, kw, func(e jetstream.KeyValueEntry) {
			add(e)
			if f.PerEntryTimeout {
				timer.Reset(f.LoadTimeout)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("reading bucket %s: %w", f.Buckets[n].Bucket(), err)
		}
	}
	return done, nil
}
