package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cuttle/controller/events"
	"cuttle/internal/testutil"
	"cuttle/simulator/profile"
)

func (m *Manager) runsHere(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[id] != nil
}

// checkOnce fails unless every device has exactly one result, ok.
func checkOnce(t *testing.T, m *Manager, id string, eids []string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range allResults(t, m, id) {
		count[r.EndpointID]++
		if r.Status != StatusOK {
			t.Errorf("%s: %s %+v", r.EndpointID, r.Status, r.Error)
		}
	}
	for _, eid := range eids {
		if count[eid] != 1 {
			t.Errorf("%s has %d results", eid, count[eid])
		}
	}
	if len(count) != len(eids) {
		t.Errorf("%d devices have results, want %d", len(count), len(eids))
	}
}

// TestRestartResumes: the controller and its job manager stop in the
// middle of a job; new ones on the same NATS resume it, and every device
// is asked and recorded exactly once.
func TestRestartResumes(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	s := startStack(t, 40)
	s.startFleet(s.eids)
	tap := newTap(s, 100*time.Millisecond)
	m1, stop1 := s.startManager(Config{USP: tap, Inventory: liveInventory{s}, ReplicaID: "first"})
	ctx := context.Background()
	j, err := m1.Create(ctx, Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device.DeviceInfo.SerialNumber"]}`),
		Selector: &Selector{}, Concurrency: 2}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "ten devices done", func() bool {
		got, _ := m1.Get(ctx, j.ID)
		return got.Done >= 10
	})
	stop1()
	s.stopController()

	mid, err := m1.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, n := range tap.answers() {
		answered += n
	}
	if mid.State != StateRunning || mid.Runner != "" || mid.Done < 10 || mid.Done >= 40 || mid.Done != answered {
		t.Fatalf("stopped job %+v; %d answers before the stop", mid, answered)
	}
	if _, err := m1.store.jobs.Get(ctx, leaseKey(j.ID)); err == nil {
		t.Error("the stopped manager kept its lease")
	}
	callsBefore := tap.calls.Load()

	s.startController()
	m2, _ := s.startManager(Config{USP: tap, Inventory: liveInventory{s}, ReplicaID: "second"})
	j = await(t, m2, j.ID, time.Minute)
	if j.State != StateCompleted || j.Done != 40 || j.Succeeded != 40 || j.Counts[StatusOK] != 40 {
		t.Fatalf("ended %+v", j)
	}
	checkOnce(t, m2, j.ID, s.eids)
	for _, eid := range s.eids {
		if n := tap.answers()[eid]; n != 1 {
			t.Errorf("%s answered %d times", eid, n)
		}
	}
	if redone := tap.calls.Load() - callsBefore; redone != int64(40-mid.Done) {
		t.Errorf("the second manager sent %d requests, want %d", redone, 40-mid.Done)
	}
}

// TestLeaseExclusive: two managers follow the same jobs; only one runs
// each.
func TestLeaseExclusive(t *testing.T) {
	s := startStack(t, 30)
	s.startFleet(s.eids)
	tapA, tapB := newTap(s, 20*time.Millisecond), newTap(s, 20*time.Millisecond)
	a, _ := s.startManager(Config{USP: tapA, ReplicaID: "a"})
	b, _ := s.startManager(Config{USP: tapB, ReplicaID: "b"})
	ctx := context.Background()
	j, err := a.Create(ctx, Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device.DeviceInfo.SerialNumber"]}`),
		Devices: s.eids, Concurrency: 3}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Watch(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	for cur := range ch {
		if a.runsHere(j.ID) && b.runsHere(j.ID) {
			t.Fatalf("both managers run the job: %+v", cur)
		}
		if cur.State == StateRunning && cur.Runner != "a" && cur.Runner != "b" {
			t.Errorf("runner %q", cur.Runner)
		}
		j = cur
	}
	if j.State != StateCompleted || j.Succeeded != 30 {
		t.Fatalf("ended %+v", j)
	}
	na, nb := tapA.calls.Load(), tapB.calls.Load()
	if na+nb != 30 || na != 0 && nb != 0 {
		t.Errorf("manager a sent %d requests, b %d", na, nb)
	}
	checkOnce(t, b, j.ID, s.eids)
}

// TestLeaseTakeover: a job whose lease a dead replica holds waits for the
// lease to expire, unless the replica is this one restarted. The restarted
// replica's lease is long, so "did not wait for it" is a wide margin rather
// than a start-up time a loaded machine can miss.
func TestLeaseTakeover(t *testing.T) {
	s := startStack(t, 5)
	s.startFleet(s.eids)
	ctx := context.Background()
	creator, err := New(ctx, Config{JetStream: s.js, USP: s.controller().MTP(), Inventory: s.controller().Inventory()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		owner, replica string
		ttl            time.Duration
		wait           bool
	}{
		{"crashed", "heir", 2 * time.Second, true},
		{"restarted", "restarted", time.Minute, false},
	} {
		t.Run(tc.owner, func(t *testing.T) {
			j, err := creator.Create(ctx, Spec{Operation: OpSupportedProtocol, Devices: s.eids}, "tester")
			if err != nil {
				t.Fatal(err)
			}
			expires := time.Now().Add(tc.ttl)
			lease, _ := json.Marshal(leaseRecord{Owner: tc.owner, Expires: expires})
			if _, err := creator.store.jobs.Create(ctx, leaseKey(j.ID), lease); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			m, stop := s.startManager(Config{ReplicaID: tc.replica, LeaseTTL: tc.ttl})
			defer stop()
			j = await(t, m, j.ID, 30*time.Second)
			if j.State != StateCompleted {
				t.Fatalf("ended %+v", j)
			}
			// The heir counts the TTL from when it first saw the lease.
			if waited := j.Started.Sub(start); tc.wait && waited < tc.ttl-100*time.Millisecond {
				t.Errorf("started after %s, before the lease expired: %+v", waited, j)
			}
			if !tc.wait && !j.Started.Before(expires) {
				t.Errorf("started at %s, after its own lease expired at %s", j.Started, expires)
			}
			checkOnce(t, m, j.ID, s.eids)
		})
	}
}

// TestLeaseLost: a runner whose lease is taken stops at once; the job is
// taken back when the thief goes silent, and ends with each device
// recorded once.
func TestLeaseLost(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	s := startStack(t, 30)
	s.startFleet(s.eids)
	tap := newTap(s, 50*time.Millisecond)
	m, _ := s.startManager(Config{USP: tap, ReplicaID: "victim", LeaseTTL: ttl})
	ctx := context.Background()
	j, err := m.Create(ctx, Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device.DeviceInfo.SerialNumber"]}`),
		Devices: s.eids, Concurrency: 1}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "five devices done", func() bool {
		got, _ := m.Get(ctx, j.ID)
		return got.Done >= 5
	})
	lease, _ := json.Marshal(leaseRecord{Owner: "thief"})
	if _, err := m.store.jobs.Put(ctx, leaseKey(j.ID), lease); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the runner to stop", func() bool { return !m.runsHere(j.ID) })
	stoppedAt := tap.calls.Load()
	time.Sleep(ttl / 2)
	if n := tap.calls.Load(); n > stoppedAt {
		t.Errorf("%d requests sent after the lease was lost", n-stoppedAt)
	}
	j = await(t, m, j.ID, time.Minute)
	if j.State != StateCompleted || j.Succeeded != 30 {
		t.Fatalf("ended %+v", j)
	}
	checkOnce(t, m, j.ID, s.eids)
}

// TestRestartWhileAwaitingCompletion: the job manager stops while every
// device of an operate job is downloading firmware, and the downloads end
// while no manager runs. The next manager sends nothing again: it finds
// the completions in the event log and records each device ok.
func TestRestartWhileAwaitingCompletion(t *testing.T) {
	s := startStack(t, 4)
	p, err := profile.Builtin(profile.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	p.DownloadSeconds = 5
	s.profile = p
	s.startFleet(s.eids)
	tap := newTap(s, 0)
	m1, stop1 := s.startManager(Config{USP: tap, Inventory: liveInventory{s}, Completions: s.controller().Events(),
		ReplicaID: "first", ShutdownGrace: 100 * time.Millisecond})
	ctx := context.Background()
	const download = "Device.DeviceInfo.FirmwareImage.2.Download()"
	j, err := m1.Create(ctx, Spec{Operation: OpOperate, Devices: s.eids, Concurrency: 4,
		Request: json.RawMessage(fmt.Sprintf(`{"command":%q,"input_args":{"URL":"https://fw.example.com/4.3.0.bin","AutoActivate":"false"}}`, download))}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "every device answered", func() bool { return len(tap.answers()) == len(s.eids) })
	stop1()
	mid, err := m1.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mid.State != StateRunning || mid.Done != 0 {
		t.Fatalf("stopped job %+v: the downloads should still run", mid)
	}

	// Every download ends while no manager follows the events.
	key := "cuttle-job-" + j.ID
	testutil.Eventually(t, 30*time.Second, "every download complete", func() bool {
		evs, err := s.controller().Events().Query(ctx, events.Filter{Types: []string{events.TypeOperationComplete}, Limit: 1000})
		if err != nil {
			return false
		}
		n := 0
		for _, e := range evs {
			if e.Data[events.DataCommandKey] == key {
				n++
			}
		}
		return n == len(s.eids)
	})

	m2, _ := s.startManager(Config{USP: tap, Inventory: liveInventory{s}, Completions: s.controller().Events(), ReplicaID: "second"})
	j = await(t, m2, j.ID, time.Minute)
	if j.State != StateCompleted || j.Succeeded != len(s.eids) {
		t.Fatalf("ended %+v", j)
	}
	for _, r := range allResults(t, m2, j.ID) {
		var resp struct {
			Results []struct {
				Command    string          `json:"command"`
				Status     string          `json:"status"`
				Completion json.RawMessage `json:"completion"`
			} `json:"results"`
		}
		if err := json.Unmarshal(r.Response, &resp); err != nil || len(resp.Results) != 1 || r.Status != StatusOK ||
			resp.Results[0].Status != "completed" || resp.Results[0].Command != download || resp.Results[0].Completion == nil {
			t.Errorf("%s: %s %+v %s (%v)", r.EndpointID, r.Status, r.Error, r.Response, err)
		}
		if r.Finished.Sub(r.Started) < 4*time.Second {
			t.Errorf("%s: finished %s after it was sent, before the download could end", r.EndpointID, r.Finished.Sub(r.Started))
		}
	}
	for _, eid := range s.eids {
		if n := tap.requests()[eid]; n != 1 {
			t.Errorf("%s was sent the command %d times", eid, n)
		}
	}
	// Purging the job removes its marks too.
	if err := m2.store.purge(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if marks, err := m2.store.sentMarks(ctx, j.ID, nil); err != nil || len(marks) != 0 {
		t.Errorf("after the purge: %d marks (%v)", len(marks), err)
	}
}
