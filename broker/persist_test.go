package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
	"cuttle/broker/presence"
	"cuttle/internal/testpki"
	"cuttle/internal/testutil"
)

// TestPersistentSessionSurvivesRestart: a QoS 1 message queued for an
// offline device with a persistent session is delivered after the broker
// restarts.
func TestPersistentSessionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, func(c *Config) { c.DataDir = dir })
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")

	dialPersistent := func() *client {
		t.Helper()
		return e.mustDial(dialOpts{username: devA, password: secA, clientID: devA, persistent: true})
	}
	dev := dialPersistent()
	if code := dev.subscribe(t, "usp/v1/agent/"+devA, 1); code != codeGrantedQoS1 {
		t.Fatalf("subscribe 0x%02x", code)
	}
	if err := dev.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	payload := record(t, ctlC, devA)
	if code := ctl.publish(t, &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: payload}); code != codeSuccess {
		t.Fatalf("publish 0x%02x", code)
	}
	e.waitQueued(devA, 1)
	e.waitStored("the queued message", func() bool {
		msgs, err := e.b.store.StoredInflightMessages()
		return err == nil && len(msgs) == 1 && msgs[0].Client == devA
	})

	e.stop()
	e.startBroker()

	dev = e.mustDial(dialOpts{username: devA, password: secA, clientID: devA, persistent: true})
	if !dev.connack.SessionPresent {
		t.Error("session not present after restart")
	}
	got := dev.expect(t)
	if string(got.Payload) != string(payload) {
		t.Errorf("got %x", got.Payload)
	}
}

// TestRestoredSessionAuthorized: after a restart, a device's persistent
// session, restored from the store while the device is away, still
// receives what its controller sends before the device is back, whether
// the device authenticated by password or by certificate alone.
func TestRestoredSessionAuthorized(t *testing.T) {
	for _, byCert := range []bool{false, true} {
		name := map[bool]string{false: "password", true: "certificate"}[byCert]
		t.Run(name, func(t *testing.T) {
			p := newPKI(t)
			dir := t.TempDir()
			e := startEnv(t, func(c *Config) {
				c.DataDir = dir
				c.Listeners = append(c.Listeners, p.listener(t, AuthCertOrPassword))
			})
			secA := e.addCred(creds.RoleDevice, devA, "")
			secC := e.addCred(creds.RoleController, ctlC, "")
			cert := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA}})
			opts := dialOpts{username: devA, password: secA, clientID: devA, persistent: true}
			if byCert {
				opts = dialOpts{listener: "mtls", tls: p.clientTLS(&cert), clientID: devA, persistent: true}
			}
			dev := e.mustDial(opts)
			if code := dev.subscribe(t, "usp/v1/agent/"+devA, 1); code != codeGrantedQoS1 {
				t.Fatalf("subscribe 0x%02x", code)
			}
			if err := dev.Disconnect(&paho.Disconnect{}); err != nil {
				t.Fatal(err)
			}
			e.waitStored("the session and its subscription", func() bool {
				clients, err := e.b.store.StoredClients()
				if err != nil || !slices.ContainsFunc(clients, func(c storage.Client) bool { return c.ID == devA }) {
					return false
				}
				subs, err := e.b.store.StoredSubscriptions()
				return err == nil && slices.ContainsFunc(subs, func(s storage.Subscription) bool {
					return s.Client == devA && s.Filter == "usp/v1/agent/"+devA
				})
			})

			e.stop()
			e.startBroker()

			ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
			payload := record(t, ctlC, devA)
			if code := ctl.publish(t, &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: payload}); code != codeSuccess {
				t.Fatalf("publish 0x%02x", code)
			}
			e.waitQueued(devA, 1)
			if byCert {
				opts.tls = p.clientTLS(&cert)
			}
			dev = e.mustDial(opts)
			if !dev.connack.SessionPresent {
				t.Error("session not present after restart")
			}
			if got := dev.expect(t); string(got.Payload) != string(payload) {
				t.Errorf("got %x", got.Payload)
			}
		})
	}
}

// TestNATSOutage: with NATS gone, connected devices keep working and new
// connections are authenticated from the in-memory mirror.
func TestNATSOutage(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secB := e.addCred(creds.RoleDevice, devB, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	if code := ctl.subscribe(t, "usp/v1/controller/"+ctlC, 1); code != codeGrantedQoS1 {
		t.Fatal(code)
	}
	devA1 := e.mustDial(dialOpts{username: devA, password: secA})

	e.ns.Shutdown()
	e.waitFor(func() bool { return !e.mirror.Healthy() }, "mirror to notice the outage")

	if code := devA1.publish(t, publishRecord(devA, ctlC)); code != codeSuccess {
		t.Errorf("publish during outage: 0x%02x", code)
	}
	ctl.expect(t)
	devB1 := e.mustDial(dialOpts{username: devB, password: secB})
	if code := devB1.publish(t, publishRecord(devB, ctlC)); code != codeSuccess {
		t.Errorf("publish from a device connected during the outage: 0x%02x", code)
	}
	ctl.expect(t)
}

func TestPresence(t *testing.T) {
	e := startEnv(t, nil)
	w, err := presence.New(t.Context(), presence.Config{JetStream: e.js})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.stop()
	e.cfg.Presence = w
	e.cfg.NodeName = "node-7"
	e.startBroker()

	sec := e.addCred(creds.RoleDevice, devA, "")
	kv, err := e.js.KeyValue(t.Context(), presence.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	dev := e.mustDial(dialOpts{username: devA, password: sec})
	waitPresence(t, kv, devA, true)
	p, _ := presence.Get(t.Context(), kv, devA)
	if p.Node != "node-7" || p.Remote != "127.0.0.1" || p.Role != "device" || p.Since.IsZero() {
		t.Errorf("presence %+v", p)
	}
	// A reconnect taking the session over must not leave the device offline.
	dev2 := e.mustDial(dialOpts{username: devA, password: sec})
	// Nothing marks the end of a takeover from outside; give a wrong
	// offline record time to appear.
	time.Sleep(200 * time.Millisecond)
	waitPresence(t, kv, devA, true)
	_ = dev.Disconnect(&paho.Disconnect{})
	_ = dev2.Disconnect(&paho.Disconnect{})
	waitPresence(t, kv, devA, false)
}

// waitQueued waits until the offline session of clientID holds n
// messages. The broker sends PUBACK before it hands a message to the
// subscribers, so the PUBACK alone does not mean the message is queued
// (TestTakeoverKeepsDeliveries covers a reconnect in between).
func (e *env) waitQueued(clientID string, n int) {
	e.t.Helper()
	e.waitFor(func() bool {
		cl, ok := e.b.server.Clients.Get(clientID)
		return ok && cl.State.Inflight.Len() == n
	}, fmt.Sprintf("%d messages queued for %s", n, clientID))
}

// waitStored waits until the broker's bolt store holds what cond checks:
// Mochi writes it in a client's goroutine, after the packets a test can see.
func (e *env) waitStored(what string, cond func() bool) {
	e.t.Helper()
	e.waitFor(cond, what+" in the broker's store")
}

func waitPresence(t *testing.T, kv jetstream.KeyValue, eid string, online bool) {
	t.Helper()
	testutil.EventuallyOK(t, 5*time.Second, func() string {
		p, err := presence.Get(context.Background(), kv, eid)
		if err == nil && p.Online == online {
			return ""
		}
		return fmt.Sprintf("presence of %s: %+v, %v; want online=%v", eid, p, err, online)
	})
}

func TestPacketIDFromKey(t *testing.T) {
	cases := map[string]uint16{"IFM_os::012345-A:17": 17, "IFM_client:65535": 65535, "IFM_x:0": 0, "IFM_x:70000": 0, "IFM_x": 0, "IFM_os::a:b": 0}
	for key, want := range cases {
		got, ok := packetIDFromKey(key)
		if got != want || ok != (want != 0) {
			t.Errorf("packetIDFromKey(%q) = %d, %v; want %d", key, got, ok, want)
		}
	}
}

// TestResumedSessionTopicAliases: a device that accepts topic aliases
// receives the messages it had not acknowledged, with their topic, when it
// resumes its session on a new connection, whose aliases start empty.
func TestResumedSessionTopicAliases(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	opts := dialOpts{username: devA, password: secA, clientID: devA, persistent: true, manualAck: true, aliasMax: 10}
	dev := e.mustDial(opts)
	inbox := "usp/v1/agent/" + devA
	if code := dev.subscribe(t, inbox, 1); code != codeGrantedQoS1 {
		t.Fatalf("subscribe 0x%02x", code)
	}
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	var sent [][]byte
	for range 3 {
		p := record(t, ctlC, devA)
		sent = append(sent, p)
		if code := ctl.publish(t, &paho.Publish{Topic: inbox, QoS: 1, Payload: p}); code != codeSuccess {
			t.Fatalf("publish 0x%02x", code)
		}
	}
	receiveN(t, dev, 3) // received, not acknowledged
	if err := dev.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	dev = e.mustDial(opts)
	if !dev.connack.SessionPresent {
		t.Fatal("session not present")
	}
	var got [][]byte
	for range 3 {
		m := dev.expect(t)
		if m.Topic != inbox {
			t.Errorf("resent message on topic %q, want %q", m.Topic, inbox)
		}
		got = append(got, m.Payload)
	}
	if !samePayloads(got, sent) {
		t.Errorf("resent payloads differ from those sent")
	}
}
