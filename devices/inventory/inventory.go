// Package inventory keeps Cuttle's device inventory: one record per device
// in the NATS KV bucket "cuttle-devices" (keyed by the endpoint ID, escaped
// with creds.EncodeKey; the value is a JSON Device), and an in-memory index
// of every record, fed by a KV watch, that answers Get, Query and Stats
// without I/O, fast enough for a console listing 100,000 devices.
//
// Several controller replicas may share the bucket. Each keeps its own
// index and sees the others' writes through the watch; writes are
// read-modify-write with KV revision checks, so concurrent writers never
// lose each other's changes. While NATS is unreachable the index keeps
// answering from the last state it saw, and catches up when NATS returns.
//
// The broker's presence records (package cuttle/broker/presence) feed the
// status of each device: see WatchPresence.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

// Errors returned by the inventory, wrapped with detail.
var (
	// ErrNotFound means no device has the endpoint ID.
	ErrNotFound = errors.New("device not found")
	// ErrInvalid means a request is malformed; a *FieldError in the chain
	// says which field.
	ErrInvalid = errors.New("invalid")
	// ErrConflict means other writers kept changing a device while Update
	// tried to, more often than it retries.
	ErrConflict = errors.New("too many concurrent updates")
)

// DefaultBucket is the KV bucket devices are stored in.
const DefaultBucket = "cuttle-devices"

// DefaultLoadTimeout bounds the wait for NATS when loading: for the bucket
// to open, and then for each next record of the initial load, so that a
// large inventory may take longer than this in total while an unreachable
// NATS fails within it.
const DefaultLoadTimeout = 5 * time.Second

// Config configures an Inventory.
type Config struct {
	// JetStream reaches the NATS server or cluster. Its connection should
	// reconnect forever: the inventory rides out outages on it.
	JetStream jetstream.JetStream
	// Bucket defaults to DefaultBucket.
	Bucket string
	// Replicas is used when Open creates the bucket (0 means 1; use 3 on a
	// cluster). When set, an existing bucket with another count is
	// updated; when 0, an existing bucket is left as it is, so a run with
	// defaults never shrinks a cluster's replicated bucket.
	Replicas int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// LoadTimeout defaults to DefaultLoadTimeout.
	LoadTimeout time.Duration
}

func (c *Config) setDefaults() error {
	if c.JetStream == nil {
		return errors.New("inventory: Config.JetStream is nil")
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Replicas < 0 {
		return fmt.Errorf("inventory: %w: Replicas %d", ErrInvalid, c.Replicas)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
	return nil
}

// Inventory is the device inventory. It is safe for concurrent use.
type Inventory struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	kv     jetstream.KeyValue
	now    func() time.Time
	follow *follower

	mu  sync.RWMutex // guards idx, the pointer and everything it points to
	idx *index

	// conns counts the endpoints online in the presence bucket, kept by
	// WatchPresence.
	conns connections

	subMu      sync.Mutex // guards subs, nextSub, queue and delivering
	subs       []subscriber
	nextSub    uint64
	queue      []change // changes not yet delivered, in the order they were applied
	delivering bool     // a goroutine is delivering queue; others leave theirs to it
}

type subscriber struct {
	id uint64
	fn func(old, new Device, deleted bool)
}

// Open opens the bucket, creating it if missing, and loads every device
// into memory. It fails within LoadTimeout, naming the NATS problem, when
// NATS is unreachable. Call Run to keep the index current; until then, the
// index still reflects this process's own writes. Run also releases the
// watch Open started, so a process that only wants to write, like a CLI,
// should still call it, with a context it then cancels.
func Open(ctx context.Context, cfg Config) (*Inventory, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	i := &Inventory{
		cfg: cfg,
		log: cfg.Logger.With("component", "inventory"),
		nc:  cfg.JetStream.Conn(),
		now: func() time.Time { return time.Now().UTC() },
		idx: newIndex(0),
	}
	if i.nc.IsClosed() {
		return nil, fmt.Errorf("opening device inventory: %w", nats.ErrConnectionClosed)
	}
	octx, cancel := context.WithTimeout(ctx, cfg.LoadTimeout)
	defer cancel()
	var err error
	i.kv, err = openBucket(octx, cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Cuttle device inventory: one JSON record per device, by endpoint ID",
		History:     1,
		Storage:     jetstream.FileStorage,
	}, cfg.Replicas)
	if err != nil {
		return nil, natsError(i.nc, "opening device bucket "+cfg.Bucket, err)
	}
	i.follow = &follower{
		what:    "devices",
		kv:      i.kv,
		nc:      i.nc,
		log:     i.log,
		timeout: cfg.LoadTimeout,
		load:    i.reload,
		live:    i.applyWatched,
	}
	if err := i.follow.start(ctx); err != nil {
		return nil, err
	}
	i.log.Info("device inventory loaded", "bucket", cfg.Bucket, "devices", i.Stats().Total)
	return i, nil
}

// Run keeps the index current until ctx ends, then returns nil. It rides
// out NATS outages: meanwhile reads answer from the last state seen, and
// after a reconnect Run reloads the bucket and reports to subscribers what
// changed in between.
func (i *Inventory) Run(ctx context.Context) error {
	return i.follow.run(ctx)
}

// Healthy reports whether the index is being kept current. While it is
// false, reads still answer, from the last state seen.
func (i *Inventory) Healthy() bool {
	return i.follow.healthy.Load() && i.nc.IsConnected()
}

// Get returns a device from memory.
func (i *Inventory) Get(eid string) (Device, bool) {
	i.mu.RLock()
	e, ok := i.idx.byID[eid]
	i.mu.RUnlock()
	if !ok {
		return Device{}, false
	}
	return e.d.Clone(), true // e.d is never modified, so cloning needs no lock
}

// Subscribe registers fn to be called for every change to the index after
// it happens: a device created (old is the zero Device), changed, or
// deleted (deleted is true and new is the zero Device), whether by this
// process, another one, or found by a reload after an outage. Calls are
// made one at a time, in the order the changes were applied, from the
// goroutine that applied them or one that applied a later change; fn
// should return quickly. It may read and write the inventory. cancel
// stops the calls.
func (i *Inventory) Subscribe(fn func(old, new Device, deleted bool)) (cancel func()) {
	i.subMu.Lock()
	id := i.nextSub
	i.nextSub++
	i.subs = append(i.subs, subscriber{id: id, fn: fn})
	i.subMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			i.subMu.Lock()
			defer i.subMu.Unlock()
			for n, s := range i.subs {
				if s.id == id {
					// A new slice, so a delivery that copied the old one
					// finishes undisturbed.
					i.subs = append(i.subs[:n:n], i.subs[n+1:]...)
					return
				}
			}
		})
	}
}

// commit runs fn, which changes i.idx, under the write lock, and reports
// the changes it returns to subscribers. Queueing them under the same lock
// keeps their order; delivering them after it is released lets
// subscribers read the inventory.
func (i *Inventory) commit(fn func() []change) {
	i.mu.Lock()
	cs := fn()
	queued := false
	if len(cs) > 0 {
		i.subMu.Lock()
		if len(i.subs) > 0 {
			i.queue = append(i.queue, cs...)
			queued = true
		}
		i.subMu.Unlock()
	}
	i.mu.Unlock()
	if queued {
		i.deliver()
	}
}

// deliver calls subscribers for queued changes, unless another goroutine is
// already doing so: that one will deliver these too, after its own, which
// keeps the order and lets a subscriber write without deadlock.
func (i *Inventory) deliver() {
	i.subMu.Lock()
	if i.delivering {
		i.subMu.Unlock()
		return
	}
	i.delivering = true
	for len(i.queue) > 0 {
		batch, subs := i.queue, i.subs
		i.queue = nil
		i.subMu.Unlock()
		for _, c := range batch {
			old, new := cloneSet(c.old), cloneSet(c.new)
			for _, s := range subs {
				s.fn(old, new, c.deleted)
			}
		}
		i.subMu.Lock()
	}
	i.delivering = false
	i.subMu.Unlock()
}

// one turns a single index result into commit's form.
func one(c change, ok bool) []change {
	if !ok {
		return nil
	}
	return []change{c}
}

// cloneSet clones d unless it is the zero Device that stands for "none".
func cloneSet(d Device) Device {
	if d.EndpointID == "" {
		return d
	}
	return d.Clone()
}

// reload begins loading the whole bucket into a new index, which replaces
// the current one when complete (follower.load).
func (i *Inventory) reload() (add func(jetstream.KeyValueEntry), done func()) {
	i.mu.RLock()
	snap := newSnapshot(len(i.idx.list))
	i.mu.RUnlock()
	add = func(e jetstream.KeyValueEntry) {
		snap.maxRev = max(snap.maxRev, e.Revision())
		if d, ok := i.decodeEntry(e); ok {
			snap.add(d)
		}
	}
	done = func() {
		next := snap.build()
		i.commit(func() []change {
			cs := i.idx.diff(next)
			i.idx = next
			return cs
		})
	}
	return add, done
}

// applyWatched applies one change the watch delivered (follower.live).
func (i *Inventory) applyWatched(e jetstream.KeyValueEntry) {
	d, present := i.decodeEntry(e)
	rev := e.Revision()
	i.commit(func() []change {
		defer i.idx.sawRevision(rev)
		switch {
		case present:
			return one(i.idx.put(d, false))
		case d.EndpointID != "":
			return one(i.idx.removeWatched(d.EndpointID, rev))
		}
		return nil // a key no endpoint ID encodes to
	})
}

// decodeEntry turns a watch entry into the device it now holds. present is
// false for a delete, and for a value that does not decode, which is
// treated as a delete (and logged); d.EndpointID is empty only for a key
// that no endpoint ID encodes to.
func (i *Inventory) decodeEntry(e jetstream.KeyValueEntry) (d Device, present bool) {
	eid, err := creds.DecodeKey(e.Key())
	if err != nil {
		i.log.Warn("ignoring device record with a bad key", "key", e.Key(), "err", err)
		return Device{}, false
	}
	if e.Operation() != jetstream.KeyValuePut {
		return Device{EndpointID: eid}, false
	}
	d, err = decodeDevice(eid, e.Value(), e.Revision())
	if err != nil {
		i.log.Warn("treating undecodable device record as absent", "endpoint_id", eid, "revision", e.Revision(), "err", err)
		return Device{EndpointID: eid}, false
	}
	return d, true
}
