package creds

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
)

// follower follows both buckets for m, as one: a reload replaces
// credentials and revocations together, and reports to subscribers what
// changed meanwhile.
func (m *Mirror) follower() *kvwatch.Follower {
	return &kvwatch.Follower{
		Conn:        m.nc,
		Buckets:     []jetstream.KeyValue{m.credKV, m.revKV},
		What:        "credentials",
		Log:         m.log,
		LoadTimeout: m.cfg.LoadTimeout,
		Healthy:     &m.healthy,
		Load: func() (func(jetstream.KeyValueEntry), func()) {
			snap := newSnapshot()
			return m.collect(snap), func() { m.notify(m.replace(snap)...) }
		},
		Live: func(e jetstream.KeyValueEntry) {
			if e.Bucket() == m.cfg.RevokedBucket {
				m.applyRevocation(e)
			} else {
				m.applyCred(e)
			}
		},
	}
}

// watch opens a watch on each bucket and reads their current contents,
// which NewMirror installs without reporting them.
func (m *Mirror) watch(ctx context.Context) (*kvwatch.Watch, snapshot, error) {
	snap := newSnapshot()
	f := m.follower()
	f.Load = func() (func(jetstream.KeyValueEntry), func()) { return m.collect(snap), nil }
	ws, err := f.Open(ctx)
	if err != nil {
		return nil, snapshot{}, err
	}
	return ws, snap, nil
}

func newSnapshot() snapshot {
	return snapshot{creds: map[string]credEntry{}, revoked: map[string]revEntry{}}
}

// collect returns the function adding an entry of either bucket to snap.
func (m *Mirror) collect(snap snapshot) func(jetstream.KeyValueEntry) {
	return func(e jetstream.KeyValueEntry) {
		if e.Bucket() == m.cfg.RevokedBucket {
			if spec, re, present, ok := m.revFromEntry(e); ok && present {
				snap.revoked[spec] = re
			}
		} else if u, ce, present, ok := m.credFromEntry(e); ok && present {
			snap.creds[u] = ce
		}
	}
}

// Run applies changes as they happen until ctx ends, then returns nil. It
// rides out NATS outages: while the connection is down the mirror keeps its
// last state (and Healthy reports false); once nats.go reconnects, or if a
// watch dies, Run loads both buckets again and reports whatever changed
// meanwhile. Reloading after every reconnect, rather than trusting
// nats.go's ordered consumer to recover, catches up at once even when the
// server restarted and lost the consumer.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("creds: Mirror.Run is already running")
	}
	defer m.running.Store(false)

	m.initMu.Lock()
	ws, status := m.initial, m.status
	m.initial, m.status = nil, nil // a second Run registers its own listener
	m.initMu.Unlock()
	return m.follower().Run(ctx, ws, status)
}
