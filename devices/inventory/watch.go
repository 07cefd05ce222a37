package inventory

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
	"cuttle/internal/natskv"
)

// follower keeps one KV bucket followed and passes what it delivers on:
// the whole bucket at first and after every reconnect (load), then each
// change (live). The device index and WatchPresence both follow a bucket
// this way; kvwatch does the following.
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
	initial *kvwatch.Watch
	status  chan nats.Status
}

// config describes f to kvwatch. The timeout bounds the wait for each
// next record, so that a large inventory may take longer than it in total.
func (f *follower) config() *kvwatch.Follower {
	return &kvwatch.Follower{
		Conn:            f.nc,
		Buckets:         []jetstream.KeyValue{f.kv},
		What:            f.what,
		Log:             f.log,
		LoadTimeout:     f.timeout,
		PerEntryTimeout: true,
		Healthy:         &f.healthy,
		Load:            f.load,
		Live:            f.live,
	}
}

// start loads the bucket once, failing if NATS does not answer in time,
// and keeps the watch for run.
func (f *follower) start(ctx context.Context) error {
	status := f.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	w, err := f.config().Open(ctx)
	if err != nil {
		f.nc.RemoveStatusListener(status)
		return err
	}
	f.initMu.Lock()
	f.initial, f.status = w, status
	f.initMu.Unlock()
	f.healthy.Store(true)
	return nil
}

// run passes on changes until ctx ends, then returns nil, reloading after
// every reconnect and whenever a watch fails.
func (f *follower) run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return fmt.Errorf("inventory: already following %s", f.what)
	}
	defer f.running.Store(false)

	f.initMu.Lock()
	w, status := f.initial, f.status
	f.initial, f.status = nil, nil // not started, or a second run: kvwatch listens
	f.initMu.Unlock()
	return f.config().Run(ctx, w, status)
}

// Shared NATS plumbing (internal/natskv).
var (
	openBucket = natskv.OpenBucket
	natsError  = natskv.Error
)
