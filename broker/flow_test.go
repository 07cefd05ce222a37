package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"cuttle/broker/creds"
)

// TestReceiveMaximumHonoured fails if the broker ever has more unacknowledged
// QoS 1 deliveries towards a client than the client's Receive Maximum
// [MQTT-3.3.4-9], which the deadlock remedy must not break.
func TestReceiveMaximumHonoured(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	const rm = 3
	dev := e.mustDial(dialOpts{username: devA, password: secA, receiveMax: rm, manualAck: true})
	if code := dev.subscribe(t, "usp/v1/agent/"+devA, 1); code != codeGrantedQoS1 {
		t.Fatalf("subscribe: 0x%02x", code)
	}
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	const total = 10
	done := make(chan error, 1)
	go func() {
		// The broker holds the controller's publishes back (backpressure)
		// while the device's window is full, so publish from a goroutine.
		for i := range total {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := ctl.Publish(ctx, &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: []byte(strconv.Itoa(i))})
			cancel()
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var got []*paho.Publish
	ackedSet := map[*paho.Publish]bool{}
	for len(got) < total {
		// Collect what arrives without acknowledging, then check the window.
		deadline := time.After(300 * time.Millisecond)
	collect:
		for {
			select {
			case m := <-dev.msgs:
				got = append(got, m)
			case <-deadline:
				break collect
			}
		}
		unacked := 0
		for _, m := range got {
			if !ackedSet[m] {
				unacked++
			}
		}
		if unacked > rm {
			t.Fatalf("%d deliveries unacknowledged, Receive Maximum is %d", unacked, rm)
		}
		if unacked == 0 {
			t.Fatalf("stalled after %d of %d messages", len(got), total)
		}
		// Acknowledge one; the broker may then send exactly one more.
		for _, m := range got {
			if !ackedSet[m] {
				if err := dev.Ack(m); err != nil {
					t.Fatal(err)
				}
				ackedSet[m] = true
				break
			}
		}
	}
	for i, m := range got {
		if string(m.Payload) != strconv.Itoa(i) {
			t.Errorf("message %d is %q: out of order or lost", i, m.Payload)
		}
	}
	for _, m := range got {
		if !ackedSet[m] {
			_ = dev.Ack(m)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("controller publish: %v", err)
	}
}

// TestQueueOverflowDelivered: a delivery Mochi drops because the
// controller's outbound queue is full (rare behind the queue guard, so the
// drop is made by hand here, as Mochi reports it) still reaches the
// controller, at QoS 0 and at QoS 1, and leaves its queue count where it was.
func TestQueueOverflowDelivered(t *testing.T) {
	e := startEnv(t, nil)
	secC := e.addCred(creds.RoleController, ctlC, "")
	ctl, inbox := e.subscribedController(secC, dialOpts{})
	cl, ok := e.b.server.Clients.Get(ctlC)
	if !ok {
		t.Fatal("controller not in the client table")
	}
	v, _ := e.b.flow.windows.Load(cl)
	w := v.(*window)
	for _, qos := range []byte{0, 1} {
		before := w.queued.Load()
		payload := record(t, devA, ctlC)
		e.b.flow.queuedIn(cl) // Mochi's ACL question before queueing
		h := &hook{b: e.b}
		h.OnPublishDropped(cl, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
			TopicName:   inbox, Payload: payload, Origin: devA,
		})
		got := ctl.expect(t)
		if string(got.Payload) != string(payload) || got.QoS != qos {
			t.Errorf("QoS %d: got QoS %d payload %x", qos, got.QoS, got.Payload)
		}
		if q := w.queued.Load(); q != before {
			t.Errorf("QoS %d: queue count %d after the overflow, want %d", qos, q, before)
		}
	}
}

// TestTooLargeForClientDiscarded: a delivery larger than the Maximum Packet
// Size the client set is discarded as if it had been sent [MQTT-3.1.2-25]:
// it does not take a slot of the client's window for ever (with Receive
// Maximum 1, nothing after it would arrive) nor stay queued to fail again on
// every reconnect.
func TestTooLargeForClientDiscarded(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	dev := e.mustDial(dialOpts{username: devA, password: secA, receiveMax: 1, maxPacket: 512})
	inbox := "usp/v1/agent/" + devA
	if code := dev.subscribe(t, inbox, 1); code != codeGrantedQoS1 {
		t.Fatalf("subscribe: 0x%02x", code)
	}
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	big := make([]byte, 2048)
	small := record(t, ctlC, devA)
	for _, p := range [][]byte{big, small} {
		if code := ctl.publish(t, &paho.Publish{Topic: inbox, QoS: 1, Payload: p}); code != codeSuccess {
			t.Fatalf("publish 0x%02x", code)
		}
	}
	if got := dev.expect(t); string(got.Payload) != string(small) {
		t.Fatalf("device got %d bytes, want the small message", len(got.Payload))
	}
	e.waitFor(func() bool {
		cl, ok := e.b.server.Clients.Get(devA)
		return ok && cl.State.Inflight.Len() == 0
	}, "nothing left in flight to the device")
	if n := testutil.ToFloat64(e.b.metrics.tooLarge); n != 1 {
		t.Errorf("deliveries counted too large: %v, want 1", n)
	}
}

// TestFullStoreDoesNotLeaveClientBusy: deliveries Mochi refuses because the
// recipient's inflight table is full (they are dropped and counted, by
// design) must not count into its outbound queue, or the recipient would
// look busy for good and every device publishing to it would be held.
func TestFullStoreDoesNotLeaveClientBusy(t *testing.T) {
	e := startEnv(t, func(c *Config) {
		c.MaxQueued, c.MaxInflight, c.MaxPendingWrites = 4, 4, 8
		c.FlowWait = 100 * time.Millisecond
	})
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	_, inbox := e.subscribedController(secC, dialOpts{manualAck: true}) // never acknowledges
	dev := e.mustDial(dialOpts{username: devA, password: secA})
	for range 20 {
		if code := dev.publish(t, &paho.Publish{Topic: inbox, QoS: 1, Payload: record(t, devA, ctlC)}); code != codeSuccess {
			t.Fatalf("publish 0x%02x", code)
		}
	}
	cl, ok := e.b.server.Clients.Get(ctlC)
	if !ok {
		t.Fatal("controller not in the client table")
	}
	e.waitFor(func() bool { return cl.State.Inflight.Len() == 4 }, "the controller's store full")
	if e.b.flow.isBusy(cl) {
		t.Errorf("controller busy after refused deliveries: %s", e.b.flow.describe())
	}
	if n := testutil.ToFloat64(e.b.metrics.flowWaits); n != 0 {
		t.Errorf("device publishes held %v times, want none", n)
	}
}
