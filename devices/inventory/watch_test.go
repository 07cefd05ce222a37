package inventory

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/presence"
	"cuttle/internal/natstest"
	"cuttle/internal/testutil"
)

// The index keeps answering while NATS is down, and follows writes again
// once it is back on the same port with the same store; so does
// WatchPresence.
func TestSurvivesOutage(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	ns, restart := natstest.StartRestartable(t)
	_, js := natstest.JetStream(t, ns)
	_, writerJS := natstest.JetStream(t, ns)
	inv := open(t, js)
	run(t, func(ctx context.Context) error { return inv.WatchPresence(ctx, js, "") })
	writer := open(t, writerJS) // another controller replica
	put(t, writer, dev1, func(d *Device) { d.Model = "RG-1"; d.Labels["site"] = "north" })
	testutil.Eventually(t, seenDeadline, "dev1 seen", func() bool { _, ok := inv.Get(dev1); return ok })

	ns.Shutdown()
	testutil.Eventually(t, 5*time.Second, "inventory reports unhealthy", func() bool { return !inv.Healthy() })
	for range 5 { // several failed reconnect attempts
		if d, ok := inv.Get(dev1); !ok || d.Model != "RG-1" {
			t.Fatal("Get fails during the outage")
		}
		if p, err := inv.Query(Query{Labels: "site=north"}); err != nil || p.Total != 1 {
			t.Fatalf("Query during the outage: %+v, %v", p, err)
		}
		if s := inv.Stats(); s.Total != 1 {
			t.Fatalf("Stats during the outage: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := inv.Update(ctx, dev1, func(d *Device) error { d.Model = "lost"; return nil })
	cancel()
	if err == nil || !strings.Contains(err.Error(), "NATS connection") {
		t.Errorf("Update during the outage = %v, want an error naming NATS", err)
	}
	if d, _ := inv.Get(dev1); d.Model != "RG-1" {
		t.Error("a failed update reached the index")
	}

	ns = restart()
	testutil.Eventually(t, 10*time.Second, "healthy again", inv.Healthy)
	testutil.Eventually(t, 10*time.Second, "writer reconnected", writerJS.Conn().IsConnected)
	begin := time.Now()
	put(t, writer, dev2, func(d *Device) { d.Model = "RG-2" })
	testutil.Eventually(t, seenDeadline, "dev2 seen after the outage", func() bool { _, ok := inv.Get(dev2); return ok })
	t.Logf("write seen %s after it began", time.Since(begin).Round(time.Microsecond))

	p, err := presence.New(testCtx(t), presence.Config{JetStream: writerJS})
	if err != nil {
		t.Fatal(err)
	}
	run(t, p.Run)
	p.Record(presence.Presence{EndpointID: dev2, Role: "device", Online: true, Since: time.Now().UTC()})
	testutil.Eventually(t, 5*time.Second, "presence applied after the outage", func() bool { d, _ := inv.Get(dev2); return d.Status == StatusOnline })
	ns.Shutdown() // before the clients' cleanup, to exercise Run ending mid-outage
}

// Changes made while this replica's connection is away are found by the
// reload and reported to subscribers.
func TestCatchesUpAfterReconnect(t *testing.T) {
	ns, restart := natstest.StartRestartable(t)
	// The writer reconnects quickly, the reader slowly, so the writes land
	// while the reader is still away.
	_, writerJS := natstest.JetStream(t, ns, nats.ReconnectWait(20*time.Millisecond))
	_, readerJS := natstest.JetStream(t, ns, nats.ReconnectWait(time.Second))
	writer := open(t, writerJS)
	put(t, writer, dev1, func(d *Device) { d.Model = "A" })
	put(t, writer, "os::gone", func(d *Device) {})
	inv := open(t, readerJS)
	var mu sync.Mutex
	got := map[string]event{}
	inv.Subscribe(func(old, new Device, deleted bool) {
		mu.Lock()
		defer mu.Unlock()
		eid := new.EndpointID
		if deleted {
			eid = old.EndpointID
		}
		got[eid] = event{describe(old), describe(new), deleted}
	})

	ns.Shutdown()
	testutil.Eventually(t, 5*time.Second, "reader reports unhealthy", func() bool { return !inv.Healthy() })
	restart()
	testutil.Eventually(t, 5*time.Second, "writer reconnected", writerJS.Conn().IsConnected)
	if readerJS.Conn().IsConnected() {
		t.Log("the reader reconnected before the writes; the test still checks delivery")
	}
	put(t, writer, dev1, func(d *Device) { d.Model = "B" })
	put(t, writer, dev2, func(d *Device) { d.Model = "C" })
	if err := writer.Delete(testCtx(t), "os::gone"); err != nil {
		t.Fatal(err)
	}
	want := map[string]event{
		dev1:       {dev1 + "/A", dev1 + "/B", false},
		dev2:       {"", dev2 + "/C", false},
		"os::gone": {"os::gone/", "", true},
	}
	testutil.Eventually(t, 10*time.Second, "changes reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	for eid, w := range want {
		if got[eid] != w {
			t.Errorf("%s: got %+v, want %+v", eid, got[eid], w)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	nc, js, url := natstest.Unreachable(t)
	begin := time.Now()
	_, err := Open(context.Background(), Config{JetStream: js, LoadTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("Open succeeded without NATS")
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Open took %s to fail", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "NATS connection to "+url) || !strings.Contains(msg, "RECONNECTING") {
		t.Errorf("error %q does not name the NATS problem", msg)
	}
	nc.Close()
	if _, err := Open(context.Background(), Config{JetStream: js}); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("Open on a closed connection = %v", err)
	}
	if _, err := Open(context.Background(), Config{}); err == nil {
		t.Error("Open without JetStream succeeded")
	}
}

// Open loads what is already stored, and leaves an existing bucket's
// settings alone when Replicas is 0.
func TestOpenLoadsExisting(t *testing.T) {
	js := newJS(t)
	first := open(t, js)
	put(t, first, dev1, func(d *Device) { d.Model = "RG-1" })
	put(t, first, dev2, func(d *Device) { d.Model = "RG-2" })
	if err := first.Delete(testCtx(t), dev2); err != nil {
		t.Fatal(err)
	}
	second, err := Open(testCtx(t), Config{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := second.Get(dev1); !ok || d.Model != "RG-1" || d.Revision == 0 {
		t.Errorf("loaded %+v, %v", d, ok)
	}
	if _, ok := second.Get(dev2); ok || second.Stats().Total != 1 {
		t.Errorf("a deleted device was loaded")
	}
	// Run was never called: Run releases the watch Open made, so call it
	// and stop it at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := second.Run(ctx); err != nil {
		t.Errorf("Run = %v", err)
	}
	st, err := first.kv.Status(testCtx(t))
	if err != nil || st.(*jetstream.KeyValueBucketStatus).Config().Replicas != 1 || st.History() != 1 {
		t.Errorf("bucket status %+v, %v", st, err)
	}
}
