package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// purgeInterval is how often Run looks for jobs past their retention.
const purgeInterval = time.Hour

// rewatchDelay is how long Run waits before following the jobs again when
// its watch fails.
const rewatchDelay = time.Second

// Run runs jobs until ctx ends, then returns nil. It follows every job
// record, claims the lease of each unfinished job it can (pending ones
// just created, running ones a previous process or a dead replica left)
// and runs it; resumed jobs skip the devices that already have a result.
// It also purges finished jobs past Config.Retention. When ctx ends it
// stops taking devices, lets requests in flight finish for up to
// Config.ShutdownGrace, records their results and the jobs' progress, and
// releases its leases, so that the jobs resume elsewhere at once.
func (m *Manager) Run(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("jobs: Run called twice")
	}
	m.log.Info("job manager started", "workers", m.cfg.Workers, "max_running", m.cfg.MaxRunning)
	defer m.stopAll()
	leaseTick := time.NewTicker(m.cfg.LeaseTTL / 3)
	defer leaseTick.Stop()
	purgeTick := time.NewTicker(purgeInterval)
	defer purgeTick.Stop()

	for ctx.Err() == nil {
		w, err := m.store.jobs.Watch(ctx, "*") // job records only: their keys are one token
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			m.log.Warn("cannot follow the jobs; retrying", "err", err)
			sleep(ctx, rewatchDelay)
			continue
		}
		// The watch starts with every record: forget what an earlier one
		// said, jobs purged meanwhile included.
		m.mu.Lock()
		clear(m.known)
		m.mu.Unlock()
		m.follow(ctx, w, leaseTick.C, purgeTick.C)
		_ = w.Stop()
		if ctx.Err() == nil {
			m.log.Warn("job watch ended; following the jobs again")
			sleep(ctx, rewatchDelay)
		}
	}
	return nil
}

// follow handles the watch's entries and Run's timers until ctx ends or
// the watch does.
func (m *Manager) follow(ctx context.Context, w jetstream.KeyWatcher, leaseTick, purgeTick <-chan time.Time) {
	loaded := false
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // every existing record has been seen
				loaded = true
				m.purgeOld(ctx)
				m.claimJobs(ctx)
				continue
			}
			if id := m.apply(e); id != "" && loaded {
				m.claimJob(ctx, id)
			}
		case <-leaseTick:
			if loaded {
				m.claimJobs(ctx)
			}
		case <-m.wake:
			if loaded {
				m.claimJobs(ctx)
			}
		case <-purgeTick:
			m.purgeOld(ctx)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// apply notes a job record's change, passes a cancel request to the job's
// runner here, and returns the job's ID if it is unfinished and not run
// here (a candidate to claim).
func (m *Manager) apply(e jetstream.KeyValueEntry) string {
	id := e.Key()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(m.known, id)
		return ""
	}
	j, err := decodeJob(e.Value())
	if err != nil {
		m.log.Warn("undecodable job record", "job", id, "err", err)
		return ""
	}
	m.known[id] = jobInfo{state: j.State, finished: j.Finished, cancelRequested: j.CancelRequested}
	r := m.running[id]
	if r != nil && j.CancelRequested {
		r.requestCancel()
	}
	if r != nil || j.Final() {
		return ""
	}
	return id
}

// claimJobs tries to claim every unfinished job not run here, oldest
// first, while this replica has room.
func (m *Manager) claimJobs(ctx context.Context) {
	m.mu.Lock()
	var ids []string
	for id, info := range m.known {
		if m.running[id] == nil && info.state != StateCompleted && info.state != StateFailed && info.state != StateCanceled {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	sortDesc(ids)
	for i := len(ids) - 1; i >= 0 && ctx.Err() == nil; i-- {
		if !m.claimJob(ctx, ids[i]) {
			return
		}
	}
}

// claimJob starts job id here if this replica has room and gets its lease;
// it returns false when this replica is full.
func (m *Manager) claimJob(ctx context.Context, id string) bool {
	m.mu.Lock()
	full := len(m.running) >= m.cfg.MaxRunning
	_, busy := m.running[id]
	m.mu.Unlock()
	if full {
		return false
	}
	if busy {
		return true
	}
	rev, ok, err := m.leases.claim(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("cannot claim job", "job", id, "err", err)
		}
		return true
	}
	if !ok {
		return true
	}
	r := newRunner(m, id, rev)
	m.mu.Lock()
	m.running[id] = r
	m.mu.Unlock()
	m.runners.Go(func() {
		r.run()
		m.mu.Lock()
		delete(m.running, id)
		m.mu.Unlock()
		m.poke() // a slot is free
	})
	return true
}

// stopAll stops this replica's jobs and waits for their runners, which
// record what they can and release their leases.
func (m *Manager) stopAll() {
	m.mu.Lock()
	for _, r := range m.running {
		r.shutdown()
	}
	m.mu.Unlock()
	m.runners.Wait()
	m.log.Info("job manager stopped")
}

// purgeOld removes finished jobs older than the retention.
func (m *Manager) purgeOld(ctx context.Context) {
	cutoff := m.now().Add(-m.cfg.Retention)
	m.mu.Lock()
	var old []string
	for id, info := range m.known {
		if (info.state == StateCompleted || info.state == StateFailed || info.state == StateCanceled) && info.finished.Before(cutoff) {
			old = append(old, id)
		}
	}
	m.mu.Unlock()
	for _, id := range old {
		if err := m.store.purge(ctx, id); err != nil {
			m.log.Warn("cannot purge old job", "job", id, "err", err)
			return
		}
		m.log.Info("old job purged", "job", id)
	}
	if len(old) > 0 {
		// Purging leaves a marker per record; drop those older than
		// NATS's default of 30 minutes.
		if err := m.store.jobs.PurgeDeletes(ctx); err != nil {
			m.log.Warn("cannot remove job purge markers", "err", err)
		}
	}
}
