package broker

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// takeovers keeps the QoS 1/2 deliveries that Mochi v2.7.9 routes to a
// session in the middle of being taken over, which it would otherwise lose
// although their publisher already has its PUBACK.
//
// When a client connects with the client ID of a session that still exists
// (a device reconnecting, whether its old connection is gone or not),
// Mochi's Server.inheritClientSession marks the old client taken over,
// copies its inflight table into the new client, moves the subscriptions,
// and then clears the old client's table; the new client replaces the old
// one in the server's client table only after all that. Routing looks
// clients up in that table, so a delivery made meanwhile is stored on the
// old client: after the copy it is in neither the new client's table nor,
// once cleared, the old one's, and nothing ever sends it. A controller
// sending a USP request to a device that reconnects at that moment sees a
// timeout.
//
// Every delivery Mochi stores reaches OnQosPublish; one stored on a client
// that is already taken over is an orphan. An orphan is handed to the
// session's current client once that client is established (or at once, if
// it already is), with a packet ID of its own, written through the flow
// window and persisted like any delivery, and removed from the old client.
// An orphan that the copy did carry (stored between the mark and the copy)
// is recognised by its packet ID, topic and payload in the new client's
// table and not sent twice. When the new connection asked for a clean
// start, the old session's messages are discarded by design [MQTT-3.1.2-4],
// and so are its orphans.
//
// takeovers is a Mochi hook of its own, added after the bolt store so that
// an orphan's record is already written when the orphan is handled.
type takeovers struct {
	mqtt.HookBase
	b *Broker

	mu sync.Mutex
	// byOld maps a client being taken over to its takeover. An entry is
	// kept for a minute after the successor is established, for deliveries
	// whose publisher looked the old client up before the switch but stored
	// the delivery after it.
	byOld map[*mqtt.Client]*takeover
	// byID maps a client ID to the takeover whose successor is not
	// established yet.
	byID map[string]*takeover
}

type takeover struct {
	clean     bool         // the successor asked for a clean start
	next      *mqtt.Client // the client taking the session over
	successor *mqtt.Client // next, once established
	orphans   []orphan     // waiting for the successor
}

type orphan struct {
	from *mqtt.Client
	pk   packets.Packet
}

// keepTakeover is how long a takeover is remembered after its successor is
// established.
const keepTakeover = time.Minute

func newTakeovers(b *Broker) *takeovers {
	return &takeovers{b: b, byOld: map[*mqtt.Client]*takeover{}, byID: map[string]*takeover{}}
}

func (t *takeovers) ID() string { return "cuttle-takeover" }

func (t *takeovers) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnQosPublish, mqtt.OnDisconnect:
		return true
	}
	return false
}

// OnSessionEstablish runs before Mochi looks for a session to take over:
// if cl's ID has a live session, its takeover starts.
func (t *takeovers) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	old, ok := t.b.server.Clients.Get(cl.ID)
	if !ok || old == cl {
		return
	}
	tk := &takeover{next: cl, clean: pk.Connect.Clean || (old.Properties.Clean && old.Properties.ProtocolVersion < 5)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.byID[cl.ID]; ok {
		// A third connection arrived before the second was established:
		// this takeover inherits what was waiting for the second.
		tk.orphans, prev.orphans = prev.orphans, nil
		for o, v := range t.byOld {
			if v == prev {
				t.byOld[o] = tk
			}
		}
	}
	t.byOld[old] = tk
	t.byID[cl.ID] = tk
}

// OnSessionEstablished runs once cl has replaced the old client in Mochi's
// table and its own inflight messages were resent: the orphans collected
// meanwhile are handed to it.
func (t *takeovers) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	t.settle(cl)
}

// OnDisconnect settles a takeover whose new connection ended before it was
// established (its CONNACK could not be written): the orphans go into the
// session it leaves, to be sent when the device resumes it.
func (t *takeovers) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	t.settle(cl)
}

// OnQosPublish runs for every delivery Mochi stores; only those stored on
// a taken-over client are orphans.
func (t *takeovers) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, resends int) {
	t.stored(cl, pk, resends)
}

// settle ends the takeover that cl is the new client of, if any, handing
// it the orphans.
func (t *takeovers) settle(cl *mqtt.Client) {
	t.mu.Lock()
	tk, ok := t.byID[cl.ID]
	if !ok || tk.next != cl {
		t.mu.Unlock()
		return
	}
	delete(t.byID, cl.ID)
	tk.successor = cl
	orphans := tk.orphans
	tk.orphans = nil
	t.mu.Unlock()
	for _, o := range orphans {
		t.adopt(tk, cl, o)
	}
	time.AfterFunc(keepTakeover, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for old, v := range t.byOld {
			if v == tk {
				delete(t.byOld, old)
			}
		}
	})
}

// next returns the client taking over old's session, if old is being (or
// was lately) taken over.
func (t *takeovers) next(old *mqtt.Client) *mqtt.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tk, ok := t.byOld[old]; ok {
		return tk.next
	}
	return nil
}

// stored handles a delivery Mochi stored on cl.
func (t *takeovers) stored(cl *mqtt.Client, pk packets.Packet, resends int) {
	if resends > 0 || !cl.IsTakenOver() || pk.FixedHeader.Type != packets.Publish {
		return
	}
	t.mu.Lock()
	tk, ok := t.byOld[cl]
	if ok && tk.successor == nil {
		tk.orphans = append(tk.orphans, orphan{from: cl, pk: pk})
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	if !ok {
		// Taken over more than keepTakeover ago, or before this broker
		// learned of it: the session's fate is unknown, so the orphan is
		// dropped where it was stored, and counted.
		t.b.metrics.takeoverOrphans.WithLabelValues("lost").Inc()
		t.b.log.Warn("delivery to a taken-over session dropped", "client", cl.ID, "packet_id", pk.PacketID)
		t.release(cl, nil, pk)
		return
	}
	t.adopt(tk, tk.successor, orphan{from: cl, pk: pk})
}

// adopt hands orphan o to to, the client that took its session over.
func (t *takeovers) adopt(tk *takeover, to *mqtt.Client, o orphan) {
	if cur, ok := t.b.server.Clients.Get(to.ID); ok && cur != to && !cur.IsTakenOver() {
		to = cur // taken over again since
	}
	if tk.clean {
		t.b.metrics.takeoverOrphans.WithLabelValues("discarded").Inc()
		t.release(o.from, to, o.pk)
		return
	}
	if in, ok := to.State.Inflight.Get(o.pk.PacketID); ok && in.FixedHeader.Type == packets.Publish &&
		in.TopicName == o.pk.TopicName && bytes.Equal(in.Payload, o.pk.Payload) {
		t.b.metrics.takeoverOrphans.WithLabelValues("copied").Inc()
		t.release(o.from, to, o.pk)
		return
	}
	out := o.pk.Copy(false)
	out.PacketID = o.pk.PacketID
	out.FixedHeader.Dup = false
	// A topic alias belongs to the old connection.
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false
	if out.TopicName == "" {
		t.b.metrics.takeoverOrphans.WithLabelValues("lost").Inc()
		t.b.log.Warn("delivery to a taken-over session dropped: it was sent by topic alias", "client", to.ID)
		t.release(o.from, to, o.pk)
		return
	}
	id, err := to.NextPacketID()
	if err != nil {
		t.b.metrics.takeoverOrphans.WithLabelValues("lost").Inc()
		t.b.log.Warn("delivery to a taken-over session dropped: no packet ID left", "client", to.ID)
		t.release(o.from, to, o.pk)
		return
	}
	out.PacketID = uint16(id)
	// Release first: the old record shares the client ID and may share the
	// packet ID in the store.
	t.release(o.from, to, o.pk)
	if to.State.Inflight.Set(out) {
		atomic.AddInt64(&t.b.server.Info.Inflight, 1)
	}
	if t.b.store != nil {
		t.b.store.OnQosPublish(to, out, out.Created, 0)
	}
	t.b.metrics.takeoverOrphans.WithLabelValues("redelivered").Inc()
	t.b.log.Debug("delivery made during a session takeover handed to the new connection",
		"client", to.ID, "old_packet_id", o.pk.PacketID, "packet_id", out.PacketID)
	// Through the flow window like any delivery; if the client is gone
	// already, the delivery waits in its session.
	_ = to.WritePacket(out)
}

// release removes orphan pk from the old client's table and its record
// from the store. The record's key is the client ID and packet ID, which
// the successor (cur, if known) shares: if the successor now holds a
// message with that packet ID, its record is written again, after the
// delete, so that a concurrent store of that message cannot be lost.
func (t *takeovers) release(old, cur *mqtt.Client, pk packets.Packet) {
	if in, ok := old.State.Inflight.Get(pk.PacketID); ok && in.TopicName == pk.TopicName && bytes.Equal(in.Payload, pk.Payload) {
		if old.State.Inflight.Delete(pk.PacketID) {
			atomic.AddInt64(&t.b.server.Info.Inflight, -1)
		}
	}
	if t.b.store == nil {
		return
	}
	t.b.store.OnQosDropped(old, pk)
	if cur == nil {
		if c, ok := t.b.server.Clients.Get(old.ID); ok && c != old {
			cur = c
		}
	}
	if cur != nil {
		if in, ok := cur.State.Inflight.Get(pk.PacketID); ok {
			t.b.store.OnQosPublish(cur, in, in.Created, 0)
		}
	}
}
