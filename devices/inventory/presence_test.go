package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/presence"
	"cuttle/internal/testutil"
)

func TestApplyPresence(t *testing.T) {
	inv := open(t, newJS(t))
	ctx := testCtx(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	put(t, inv, dev1, func(d *Device) { d.Model = "RG-1" })

	steps := []struct {
		name       string
		p          presence.Presence
		wantStatus string
		wantSince  time.Time
		wantSeen   time.Time
		wantNode   string
	}{
		{"online", presence.Presence{EndpointID: dev1, Role: "device", Online: true, Since: at(10), Node: "b1", Remote: "192.0.2.1"},
			StatusOnline, at(10), at(10), "b1"},
		{"an older offline arriving late is ignored", presence.Presence{EndpointID: dev1, Role: "device", Online: false, Since: at(5), Node: "b0"},
			StatusOnline, at(10), at(10), "b1"},
		{"offline", presence.Presence{EndpointID: dev1, Role: "device", Online: false, Since: at(20), Node: "b1"},
			StatusOffline, at(20), at(20), "b1"},
		{"online on another node, in another time zone", presence.Presence{EndpointID: dev1, Role: "device", Online: true, Since: at(30).In(time.FixedZone("X", 3600)), Node: "b2"},
			StatusOnline, at(30), at(30), "b2"},
		{"a controller is not a device", presence.Presence{EndpointID: dev1, Role: "controller", Online: false, Since: at(40)},
			StatusOnline, at(30), at(30), "b2"},
		{"the same record again", presence.Presence{EndpointID: dev1, Role: "device", Online: true, Since: at(30), Node: "b2"},
			StatusOnline, at(30), at(30), "b2"},
	}
	var rev uint64
	for _, s := range steps {
		if err := inv.ApplyPresence(ctx, s.p); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		d, _ := inv.Get(dev1)
		if d.Status != s.wantStatus || !d.StatusSince.Equal(s.wantSince) || !d.LastSeen.Equal(s.wantSeen) || d.BrokerNode != s.wantNode || d.Model != "RG-1" {
			t.Errorf("%s: got %s since %v, seen %v, node %q, model %q", s.name, d.Status, d.StatusSince, d.LastSeen, d.BrokerNode, d.Model)
		}
		if s.name == "the same record again" && d.Revision != rev {
			t.Errorf("repeating a record wrote the device again")
		}
		rev = d.Revision
	}
	if d, _ := inv.Get(dev1); d.Remote != "192.0.2.1" {
		t.Errorf("Remote = %q; an offline record without an address should keep the last one", d.Remote)
	}

	// A device the inventory has not seen yet is created by its presence.
	if err := inv.ApplyPresence(ctx, presence.Presence{EndpointID: dev2, Role: "device", Online: true, Since: at(1)}); err != nil {
		t.Fatal(err)
	}
	if d, ok := inv.Get(dev2); !ok || d.Status != StatusOnline {
		t.Errorf("new device = %+v, %v", d, ok)
	}
	if err := inv.ApplyPresence(ctx, presence.Presence{EndpointID: "bogus", Role: "device", Online: true, Since: at(1)}); err == nil {
		t.Error("presence of a malformed endpoint ID was stored")
	}
}

// The broker's presence writer and WatchPresence, end to end through the
// presence bucket: records stored before the watch starts and after.
func TestWatchPresence(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	js, js2 := twoConns(t)
	w, err := presence.New(testCtx(t), presence.Config{JetStream: js2, RetryInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, w.Run)
	w.Record(presence.Presence{EndpointID: dev1, Role: "device", Online: true, Since: time.Now().UTC(), Node: "b1"})
	w.Record(presence.Presence{EndpointID: "self::ctl", Role: "controller", Online: true, Since: time.Now().UTC()})
	kv, err := js.KeyValue(testCtx(t), presence.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "presence stored", func() bool { _, err := presence.Get(testCtx(t), kv, dev1); return err == nil })

	inv := open(t, js)
	run(t, func(ctx context.Context) error { return inv.WatchPresence(ctx, js, "") })
	testutil.Eventually(t, 5*time.Second, "dev1 online from the stored record", func() bool {
		d, _ := inv.Get(dev1)
		return d.Status == StatusOnline && d.BrokerNode == "b1"
	})

	// Broker connections count every role: dev1 and the controller.
	testutil.Eventually(t, 5*time.Second, "2 broker connections", func() bool { return inv.BrokerConnections() == 2 })

	begin := time.Now()
	w.Record(presence.Presence{EndpointID: dev2, Role: "device", Online: true, Since: time.Now().UTC(), Node: "b2"})
	testutil.Eventually(t, seenDeadline, "dev2 online", func() bool { d, _ := inv.Get(dev2); return d.Status == StatusOnline })
	if n := inv.BrokerConnections(); n != 3 {
		t.Errorf("%d broker connections with dev2 online, want 3", n)
	}
	t.Logf("presence reached the inventory %s after it was recorded", time.Since(begin).Round(time.Microsecond))
	w.Record(presence.Presence{EndpointID: dev1, Role: "device", Online: false, Since: time.Now().UTC(), Node: "b1"})
	testutil.Eventually(t, seenDeadline, "dev1 offline", func() bool { d, _ := inv.Get(dev1); return d.Status == StatusOffline })

	if _, ok := inv.Get("self::ctl"); ok {
		t.Error("a controller became a device")
	}
	// A record no writer could have made is skipped, not fatal.
	if _, err := kv.Put(testCtx(t), "junk", []byte("{")); err != nil {
		t.Fatal(err)
	}
	w.Record(presence.Presence{EndpointID: dev2, Role: "device", Online: false, Since: time.Now().UTC(), Node: "b2"})
	testutil.Eventually(t, seenDeadline, "dev2 offline", func() bool { d, _ := inv.Get(dev2); return d.Status == StatusOffline })
	if s := inv.Stats(); s.Total != 2 || s.Offline != 2 {
		t.Errorf("Stats = %+v", s)
	}
	if n := inv.BrokerConnections(); n != 1 {
		t.Errorf("%d broker connections with only the controller online, want 1", n)
	}
}

// WatchPresence waits for a bucket that does not exist yet, and for NATS.
func TestWatchPresenceCreatesBucket(t *testing.T) {
	js := newJS(t)
	inv := open(t, js)
	run(t, func(ctx context.Context) error { return inv.WatchPresence(ctx, js, "other-presence") })
	var kv jetstream.KeyValue
	testutil.Eventually(t, 5*time.Second, "bucket created", func() bool {
		var err error
		kv, err = js.KeyValue(testCtx(t), "other-presence")
		return err == nil
	})
	if _, err := kv.Put(testCtx(t), "os=3A=3A012345-0001", []byte(`{"endpoint_id":"os::012345-0001","role":"device","online":true,"since":"2026-01-01T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, seenDeadline, "dev1 online", func() bool { d, _ := inv.Get(dev1); return d.Status == StatusOnline })
}
