package broker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"cuttle/broker/creds"
)

// takeoverRace is a test hook that produces Mochi's session-takeover race
// deterministically: while Mochi clears the old client's inflight table
// (after copying it to the new client, before the new client replaces the
// old one in its client table), it runs publish and waits until the
// delivery has been stored on the old client.
type takeoverRace struct {
	mqtt.HookBase
	id      string
	publish func()
	once    sync.Once
	stored  chan struct{}
	routed  bool // a delivery was stored on the taken-over client
}

func (h *takeoverRace) ID() string { return "test-takeover-race" }

func (h *takeoverRace) Provides(b byte) bool { return b == mqtt.OnQosDropped || b == mqtt.OnQosPublish }

func (h *takeoverRace) OnQosDropped(cl *mqtt.Client, _ packets.Packet) {
	if cl.ID != h.id || !cl.IsTakenOver() {
		return
	}
	h.once.Do(func() {
		go h.publish()
		select {
		case <-h.stored:
			h.routed = true
		case <-time.After(5 * time.Second):
		}
	})
}

func (h *takeoverRace) OnQosPublish(cl *mqtt.Client, _ packets.Packet, _ int64, resends int) {
	if cl.ID == h.id && cl.IsTakenOver() && resends == 0 {
		select {
		case h.stored <- struct{}{}:
		default:
		}
	}
}

// TestTakeoverKeepsDeliveries: a QoS 1 message the controller publishes
// while a device's reconnect takes over its persistent session reaches the
// device on its new connection, exactly once, and (with a store) is still
// there after a broker restart. Mochi alone loses it.
func TestTakeoverKeepsDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		live  bool // the old connection is still open when the device reconnects
		store bool
	}{
		{name: "device away"},
		{name: "device connected", live: true},
		{name: "device away with store", store: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, func(c *Config) {
				if tc.store {
					c.DataDir = t.TempDir()
				}
			})
			secA := e.addCred(creds.RoleDevice, devA, "")
			secC := e.addCred(creds.RoleController, ctlC, "")
			opts := dialOpts{username: devA, password: secA, clientID: devA, persistent: true, manualAck: tc.live || tc.store}
			dev := e.mustDial(opts)
			if code := dev.subscribe(t, "usp/v1/agent/"+devA, 1); code != codeGrantedQoS1 {
				t.Fatalf("subscribe 0x%02x", code)
			}
			if !tc.live {
				if err := dev.Disconnect(&paho.Disconnect{}); err != nil {
					t.Fatal(err)
				}
			}
			ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
			first, second := record(t, ctlC, devA), record(t, ctlC, devA)
			if code := ctl.publish(t, &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: first}); code != codeSuccess {
				t.Fatalf("publish 0x%02x", code)
			}
			e.waitQueued(devA, 1)
			if tc.live {
				dev.expect(t) // delivered, not acknowledged: still in flight
			}

			published := make(chan error, 1)
			race := &takeoverRace{id: devA, stored: make(chan struct{}, 1), publish: func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := ctl.Publish(ctx, &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: second})
				published <- err
			}}
			if err := e.b.server.AddHook(race, nil); err != nil {
				t.Fatal(err)
			}
			dev2 := e.mustDial(opts)
			if !dev2.connack.SessionPresent {
				t.Fatal("session not present on reconnect")
			}
			if err := <-published; err != nil {
				t.Fatalf("second publish: %v", err)
			}
			if !race.routed {
				t.Fatal("the second message was not routed to the old client during the takeover: the race was not produced")
			}
			want := [][]byte{first, second}
			got := receiveN(t, dev2, 2)
			if !samePayloads(got, want) {
				t.Fatalf("after the takeover the device received %d messages, want the two sent", len(got))
			}
			dev2.expectNone(t, 300*time.Millisecond)
			if n := testutil.ToFloat64(e.b.metrics.takeoverOrphans.WithLabelValues("redelivered")); n != 1 {
				t.Errorf("redelivered orphans = %v, want 1", n)
			}
			// The first message was moved to the new connection, not dropped.
			if n := testutil.ToFloat64(e.b.metrics.qosDropped); n != 0 {
				t.Errorf("QoS 1/2 deliveries counted dropped: %v, want 0", n)
			}
			if !tc.store {
				return
			}
			// Unacknowledged (manual acks), both are in the new session.
			e.waitFor(func() bool {
				cl, ok := e.b.server.Clients.Get(devA)
				return ok && cl.State.Inflight.Len() == 2
			}, "two messages in flight to the new connection")
			e.stop()
			e.startBroker()
			dev3 := e.mustDial(opts)
			if !dev3.connack.SessionPresent {
				t.Fatal("session not present after restart")
			}
			if got := receiveN(t, dev3, 2); !samePayloads(got, want) {
				t.Fatalf("after a restart the device received %d messages, want the two unacknowledged", len(got))
			}
			dev3.expectNone(t, 300*time.Millisecond)
		})
	}
}

// receiveN returns the payloads of the next n messages c receives.
func receiveN(t *testing.T, c *client, n int) [][]byte {
	t.Helper()
	var got [][]byte
	for range n {
		got = append(got, c.expect(t).Payload)
	}
	return got
}

// samePayloads reports whether got and want hold the same payloads in any
// order.
func samePayloads(got, want [][]byte) bool {
	key := func(ps [][]byte) []string {
		var s []string
		for _, p := range ps {
			s = append(s, string(p))
		}
		slices.Sort(s)
		return s
	}
	return slices.Equal(key(got), key(want))
}
