package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errLeaseLost: another replica holds the lease now.
var errLeaseLost = errors.New("lease lost to another replica")

// leaseRecord is the value of a lease key. Expires is for people reading
// the bucket; takeover goes by how long the revision stays unchanged, on
// the observer's own clock.
type leaseRecord struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// leases claims, refreshes and releases job leases (see the package
// documentation) for one replica.
type leases struct {
	kv    jetstream.KeyValue
	owner string
	ttl   time.Duration
	now   func() time.Time

	mu sync.Mutex // guards seen
	// seen is, for each job whose lease another replica holds, the
	// revision last seen and when this replica first saw it.
	seen map[string]sighting
}

type sighting struct {
	rev   uint64
	since time.Time
}

func leaseKey(id string) string { return id + ".lease" }

func (l *leases) value() []byte {
	b, _ := json.Marshal(leaseRecord{Owner: l.owner, Expires: l.now().Add(l.ttl).UTC()})
	return b
}

// claim takes the lease of job id if it is free, expired, or this
// replica's own leftover, and returns its revision; ok is false when
// another replica holds it.
func (l *leases) claim(ctx context.Context, id string) (rev uint64, ok bool, err error) {
	e, err := l.kv.Get(ctx, leaseKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) { // never claimed, or released
		rev, err := l.kv.Create(ctx, leaseKey(id), l.value())
		if conflict(err) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("claiming the lease of job %s: %w", id, err)
		}
		l.forget(id)
		return rev, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the lease of job %s: %w", id, err)
	}
	var rec leaseRecord
	_ = json.Unmarshal(e.Value(), &rec) // an unreadable lease expires like any other
	if rec.Owner != l.owner && !l.expired(id, e.Revision()) {
		return 0, false, nil
	}
	rev, err = l.kv.Update(ctx, leaseKey(id), l.value(), e.Revision())
	if conflict(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("taking over the lease of job %s: %w", id, err)
	}
	l.forget(id)
	return rev, true, nil
}

// expired reports whether the lease has stayed at rev for a whole TTL
// since this replica first saw that revision.
func (l *leases) expired(id string, rev uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s, ok := l.seen[id]
	if !ok || s.rev != rev {
		l.seen[id] = sighting{rev: rev, since: now}
		return false
	}
	return now.Sub(s.since) >= l.ttl
}

func (l *leases) forget(id string) {
	l.mu.Lock()
	delete(l.seen, id)
	l.mu.Unlock()
}

// refresh extends a held lease, returning its new revision; errLeaseLost
// when another replica has written it since.
func (l *leases) refresh(ctx context.Context, id string, rev uint64) (uint64, error) {
	rev, err := l.kv.Update(ctx, leaseKey(id), l.value(), rev)
	if conflict(err) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, errLeaseLost
	}
	if err != nil {
		return 0, fmt.Errorf("refreshing the lease of job %s: %w", id, err)
	}
	return rev, nil
}

// release gives a held lease up, so that another replica may take the job
// at once. A lease already lost is left alone.
func (l *leases) release(ctx context.Context, id string, rev uint64) error {
	err := l.kv.Delete(ctx, leaseKey(id), jetstream.LastRevision(rev))
	if err != nil && !conflict(err) {
		return fmt.Errorf("releasing the lease of job %s: %w", id, err)
	}
	return nil
}
