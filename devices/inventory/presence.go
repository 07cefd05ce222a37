package inventory

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
	"cuttle/broker/presence"
	"cuttle/internal/kvwatch"
)

// presenceWorkers is how many presence records WatchPresence applies at
// once. Each costs a KV round trip when it changes something, and after a
// broker restart every device reconnects at once; records of one device
// always go to the same worker, so they stay in order.
const presenceWorkers = 8

// presenceQueue is the backlog each worker may have before the watch waits.
const presenceQueue = 256

// ApplyPresence records what the broker reported about a device's
// connection: its status and since when, the broker node and remote
// address, and that it was seen then. Records for other roles are ignored,
// and so is a record older than the device's current status, which
// arrives late and must not undo a newer one. A device not yet in the
// inventory is created: the broker admitted it, so it exists.
func (i *Inventory) ApplyPresence(ctx context.Context, p presence.Presence) error {
	if p.Role != string(creds.RoleDevice) {
		return nil
	}
	since := p.Since.UTC()
	_, err := i.Update(ctx, p.EndpointID, func(d *Device) error {
		if since.Before(d.StatusSince) {
			return nil
		}
		d.Status = StatusOffline
		if p.Online {
			d.Status = StatusOnline
		}
		d.StatusSince = since
		if p.Node != "" {
			d.BrokerNode = p.Node
		}
		if p.Remote != "" {
			d.Remote = p.Remote
		}
		if since.After(d.LastSeen) {
			d.LastSeen = since
		}
		return nil
	})
	return err
}

// WatchPresence applies every presence record in bucket (default
// presence.DefaultBucket) to the inventory, the current ones first, then
// each change, until ctx ends; then it returns nil. The bucket is created
// if the broker has not done so yet. It rides out NATS outages and, after
// a reconnect, applies every record again: unchanged ones cost no write,
// and records that arrived meanwhile are not missed.
func (i *Inventory) WatchPresence(ctx context.Context, js jetstream.JetStream, bucket string) error {
	if bucket == "" {
		bucket = presence.DefaultBucket
	}
	log := i.log.With("bucket", bucket)
	kv, err := i.openPresence(ctx, js, bucket)
	if err != nil {
		return nil // ctx ended
	}

	var wg sync.WaitGroup
	queues := make([]chan presence.Presence, presenceWorkers)
	for n := range queues {
		queues[n] = make(chan presence.Presence, presenceQueue)
		wg.Go(func() {
			for p := range queues[n] {
				if err := i.ApplyPresence(ctx, p); err != nil && ctx.Err() == nil {
					// The reload after NATS returns applies it again.
					log.Warn("applying presence failed", "endpoint_id", p.EndpointID, "online", p.Online, "err", err)
				}
			}
		})
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()

	seed := maphash.MakeSeed()
	// decode reads a record; ok is false for deletes and records that
	// cannot be trusted.
	decode := func(e jetstream.KeyValueEntry) (p presence.Presence, ok bool) {
		if e.Operation() != jetstream.KeyValuePut {
			return p, false // the broker never deletes; an operator cleaning up says nothing about status
		}
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			log.Warn("ignoring undecodable presence record", "key", e.Key(), "err", err)
			return p, false
		}
		if eid, err := creds.DecodeKey(e.Key()); err != nil || eid != p.EndpointID {
			log.Warn("ignoring presence record stored under another key", "key", e.Key(), "endpoint_id", p.EndpointID)
			return p, false
		}
		return p, true
	}
	// apply counts the record with count, then queues it for its worker,
	// which may wait: count must not.
	apply := func(e jetstream.KeyValueEntry, count func(key string, online bool)) {
		p, ok := decode(e)
		count(e.Key(), ok && p.Online)
		if !ok {
			return
		}
		select {
		case queues[maphash.String(seed, p.EndpointID)%presenceWorkers] <- p:
		case <-ctx.Done():
		}
	}
	f := &follower{
		what:    "presence",
		kv:      kv,
		nc:      js.Conn(),
		log:     log,
		timeout: i.cfg.LoadTimeout,
		load: func() (func(jetstream.KeyValueEntry), func()) {
			// A load counts afresh: connections that ended while NATS
			// was away may have left no change to watch.
			counted := map[string]struct{}{}
			add := func(e jetstream.KeyValueEntry) { apply(e, func(k string, on bool) { setOnline(counted, k, on) }) }
			return add, func() { i.conns.replace(counted) }
		},
		live: func(e jetstream.KeyValueEntry) { apply(e, i.conns.set) },
	}
	return f.run(ctx)
}

func setOnline(set map[string]struct{}, key string, online bool) {
	if online {
		set[key] = struct{}{}
	} else {
		delete(set, key)
	}
}

// BrokerConnections is the number of endpoints, of every role, that the
// broker(s) report online in the presence bucket, as WatchPresence last
// saw it; 0 before it has loaded the bucket.
func (i *Inventory) BrokerConnections() int { return i.conns.count() }

// connections is the set of presence keys online.
type connections struct {
	mu     sync.Mutex // guards online
	online map[string]struct{}
}

func (c *connections) replace(online map[string]struct{}) {
	c.mu.Lock()
	c.online = online
	c.mu.Unlock()
}

func (c *connections) set(key string, online bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.online == nil {
		c.online = map[string]struct{}{}
	}
	setOnline(c.online, key, online)
}

func (c *connections) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.online)
}

// openPresence opens the presence bucket, retrying until it succeeds or
// ctx ends: the controller may start before NATS or the broker does.
func (i *Inventory) openPresence(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	backoff := kvwatch.MinRetry
	for {
		octx, cancel := context.WithTimeout(ctx, i.cfg.LoadTimeout)
		kv, err := openBucket(octx, js, jetstream.KeyValueConfig{
			Bucket:      bucket,
			Description: "Cuttle: devices and controllers online/offline, by endpoint ID",
		}, 0)
		cancel()
		if err == nil {
			return kv, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		i.log.Warn("cannot open presence bucket; retrying", "bucket", bucket, "err", natsError(js.Conn(), "opening "+bucket, err), "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, kvwatch.MaxRetry)
	}
}
