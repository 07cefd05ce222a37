package broker

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// flow replaces Mochi's outbound flow control, to remove the QoS 1
// deadlock of Mochi v2.7.9 while still honouring each client's Receive
// Maximum [MQTT-3.3.4-9].
//
// The deadlock: after each inbound packet, a client's read loop calls
// Inflight.NextImmediate when the client has messages in flight and send
// quota left. NextImmediate read-locks the inflight table and calls GetAll,
// which read-locks it again. When a delivery to the same client
// (Inflight.Set, which write-locks) arrives between the two read locks, Go's
// RWMutex makes the second read lock wait for the writer and the writer
// wait for the first reader: the connection never moves again, and the
// server then waits for it forever on shutdown. Many devices publishing
// QoS 1 to one controller inbox while the controller publishes to them is
// exactly that pattern.
//
// Mochi also loses QoS 1/2 messages under load: it drops a delivery outright
// when the client already has Capabilities.MaximumInflight messages stored
// unacknowledged, or when its outbound queue (MaximumClientWritesPending) is
// full because the write loop is stuck on a socket the client reads slowly.
// A thousand devices publishing at once to one controller does both.
//
// The remedy has two halves:
//
//  1. Mochi's send quota and its maximum are set to zero when a session is
//     established. The read loop only enters NextImmediate when the quota is
//     above zero, and with a zero maximum the quota never rises again, so the
//     deadlocking call never happens. A zero maximum also switches off
//     Mochi's quota-based queueing: Mochi hands every QoS 1/2 delivery to the
//     client's write loop at once.
//  2. The broker keeps each client's window itself, without ever blocking a
//     publisher. The window is the client's Receive Maximum [MQTT-3.3.4-9],
//     capped by Config.MaxInflight. When the write loop is about to encode a
//     delivery (OnPacketEncode) and the window is full, the write is skipped
//     and the delivery joins the client's backlog. It stays in Mochi's
//     inflight table meanwhile, so it is persisted and resent on session
//     resumption; Mochi's cap on that table is Config.MaxQueued. Each
//     PUBACK, PUBCOMP or failing PUBREC from the client (seen in
//     OnPacketRead) frees a slot, and the oldest backlogged delivery is
//     written from the client's own read loop. Because at most a window of
//     deliveries is ever on the wire, the write loop does not stall on the
//     socket, skipped deliveries leave the outbound queue at once, and the
//     queue does not overflow.
//
// One kind of waiting remains, because a backlog must be bounded and a
// thousand devices can publish faster than one controller reads: when a
// client's backlog reaches half of Config.MaxQueued, clients publishing to
// it wait (up to Config.FlowWait) before their publish is accepted, so the
// PUBACK they wait for slows them down instead of their messages being
// dropped. Controllers never wait, and a client's backlog drains through
// its own read loop, so in USP's traffic (devices publish only to
// controllers) no cycle of waits can form; admin and local clients
// publishing to each other in a circle can, and FlowWait bounds it.
// Making every publisher wait for a slot was tried and rejected: a
// controller waiting on one slow device's window stalls every device, and
// two clients waiting on each other deadlock (the all-to-all stress test
// found it).
//
// The same waiting guards each client's outbound queue
// (Config.MaxPendingWrites), which Mochi shares between QoS 0 and QoS 1/2
// deliveries and from which it drops QoS 0 deliveries when full. A thousand
// devices publishing QoS 0 (obuspa's default) to one controller fill it
// faster than the controller's one write loop empties it: 65-81% of the
// Records were lost. The broker counts each client's queue itself: a
// delivery is counted in when Mochi asks whether the client may receive it
// (OnACLCheck, right before queueing it) and out when the write loop
// encodes it, or when Mochi reports it dropped. At half the queue the
// client counts as busy, as for a long backlog, and devices publishing to it
// wait until it is down to a quarter: the queue drains while they wait, and
// TCP slows the devices down instead of Mochi dropping their Records.
type flow struct {
	maxInflight int
	// highWater is the backlog length at which a client counts as busy:
	// devices publishing to it then wait (see waitForRoom in hook.go).
	highWater int
	// queueHigh and queueLow are the outbound queue lengths at which a
	// client becomes busy and stops being busy.
	queueHigh, queueLow int64
	// maxStored is Mochi's cap on a client's inflight table
	// (Config.MaxQueued).
	maxStored int
	windows   sync.Map     // *mqtt.Client -> *window
	busy      atomic.Int64 // windows currently busy; 0 keeps the publish path free of lookups

	roomMu sync.Mutex    // guards room
	room   chan struct{} // closed (and replaced) when a busy window stops being busy
}

// roomSignal returns a channel that is closed the next time a busy window
// stops being busy. A waiter takes it before checking the windows, so a
// change between its check and its wait is not missed.
func (f *flow) roomSignal() <-chan struct{} {
	f.roomMu.Lock()
	defer f.roomMu.Unlock()
	if f.room == nil {
		f.room = make(chan struct{})
	}
	return f.room
}

// signalRoom wakes every publisher waiting for room (see waitForRoom).
func (f *flow) signalRoom() {
	f.roomMu.Lock()
	if f.room != nil {
		close(f.room)
		f.room = nil
	}
	f.roomMu.Unlock()
}

// window is one client's Receive Maximum window.
type window struct {
	size int
	mu   sync.Mutex // guards held, backlog and busy
	// held are the deliveries written and awaiting acknowledgement, by
	// packet ID. Copies are kept because Mochi can lose its own (restore).
	// nil while none are: a map of packets does not shrink, and an idle
	// device should not keep one (see hold and release).
	held map[uint16]packets.Packet
	// backlog holds deliveries whose write was skipped, oldest first.
	backlog []packets.Packet
	// backlogBusy: len(backlog) reached flow.highWater and has not fallen
	// to half of it. queueBusy: queued reached flow.queueHigh and has not
	// fallen to flow.queueLow. busy is either, and is what flow.busy counts.
	backlogBusy, queueBusy, busy bool
	// queued estimates the length of Mochi's outbound queue for the client
	// (deliveries counted in and not yet out). It may drift down, for QoS 0
	// deliveries queued while the inflight table is full (queuedIn) and
	// for refused subscriptions (subscribing), never up: a window lives as
	// long as one connection.
	queued atomic.Int64
}

// settle brings w.busy in line with its causes, keeping flow.busy's count;
// it reports whether w stopped being busy. w.mu is held.
func (f *flow) settle(w *window) (freed bool) {
	switch want := w.backlogBusy || w.queueBusy; {
	case want && !w.busy:
		w.busy = true
		f.busy.Add(1)
	case !want && w.busy:
		w.busy = false
		f.busy.Add(-1)
		freed = true
	}
	return freed
}

// queuedIn counts a delivery about to be queued for cl. When cl's inflight
// table is full Mochi refuses a QoS 1/2 delivery right after this question,
// so none is counted then: a count that never comes out would leave cl busy
// for good, and publishers waiting on it. (A QoS 0 one is queued all the
// same and uncounted; the estimate errs low, where the worst is a delivery
// written past a full queue.)
func (f *flow) queuedIn(cl *mqtt.Client) {
	v, ok := f.windows.Load(cl)
	if !ok || cl.State.Inflight.Len() >= f.maxStored {
		return
	}
	w := v.(*window)
	if w.queued.Add(1) == f.queueHigh {
		f.checkQueue(w)
	}
}

// subscribing offsets the ACL checks of a SUBSCRIBE's n filters, which
// Mochi asks as it would for a delivery, so they do not count into cl's
// queue.
func (f *flow) subscribing(cl *mqtt.Client, n int) {
	if v, ok := f.windows.Load(cl); ok {
		w := v.(*window)
		w.queued.Add(-int64(n))
		f.checkQueue(w)
	}
}

// queuedOut counts a delivery that left w's queue (written, or dropped).
func (f *flow) queuedOut(w *window) {
	if w.queued.Add(-1) == f.queueLow {
		f.checkQueue(w)
	}
}

// checkQueue updates w.queueBusy from the queue's current length, not the
// one its caller saw: a caller that saw the high mark may get here after
// the queue has drained past the low one.
func (f *flow) checkQueue(w *window) {
	w.mu.Lock()
	switch q := w.queued.Load(); {
	case q >= f.queueHigh:
		w.queueBusy = true
	case q <= f.queueLow:
		w.queueBusy = false
	}
	freed := f.settle(w)
	w.mu.Unlock()
	if freed {
		f.signalRoom()
	}
}

func receiveMaximum(cl *mqtt.Client) int {
	if rm := int(cl.Properties.Props.ReceiveMaximum); rm > 0 {
		return rm
	}
	return 65535 // absent: the MQTT 5 default
}

// establish runs before the client is registered and can be sent anything.
func (f *flow) establish(cl *mqtt.Client) {
	cl.State.Inflight.ResetSendQuota(0)
	f.windows.Store(cl, &window{size: min(receiveMaximum(cl), f.maxInflight)})
}

// established runs once the session is in place: a resumed session brings
// its own inflight table, whose quota must be zeroed again, and messages
// Mochi queued for lack of quota meanwhile are written now, since nothing
// else would send them.
func (f *flow) established(cl *mqtt.Client) {
	cl.State.Inflight.ResetSendQuota(0)
	for _, pk := range cl.State.Inflight.GetAll(true) {
		pk.Expiry = 0
		cl.State.Inflight.Set(pk)
		_ = cl.WritePacket(pk)
	}
}

// skipped is what OnPacketEncode returns for a delivery that must wait: a
// packet of no valid type, which Mochi's write loop declines to encode and
// passes over.
var skipped = packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Reserved}}

// encode decides whether the delivery pk may be written to cl now.
func (f *flow) encode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Publish {
		return pk
	}
	v, ok := f.windows.Load(cl)
	if !ok {
		return pk
	}
	w := v.(*window)
	if pk.FixedHeader.Qos == 0 {
		f.queuedOut(w) // every QoS 0 delivery comes through the queue
		return pk
	}
	w.mu.Lock()
	if _, ok := w.held[pk.PacketID]; ok {
		w.mu.Unlock()
		return pk // a resend, or a backlogged delivery being written now
	}
	if !pk.FixedHeader.Dup {
		// Not a resend of the session's inflight messages: it came
		// through the queue.
		defer f.queuedOut(w)
	}
	defer w.mu.Unlock()
	if len(w.held) < w.size {
		w.hold(pk)
		return pk
	}
	w.backlog = append(w.backlog, pk)
	if !w.backlogBusy && len(w.backlog) >= f.highWater {
		w.backlogBusy = true
		f.settle(w)
	}
	return skipped
}

// discard accounts for a delivery that will not be written (too large for
// the client, see hook.go): it leaves the queue if it came from it, and
// frees its slot if it held one.
func (f *flow) discard(cl *mqtt.Client, pk packets.Packet) {
	v, ok := f.windows.Load(cl)
	if !ok {
		return
	}
	w := v.(*window)
	w.mu.Lock()
	_, held := w.held[pk.PacketID]
	w.mu.Unlock()
	if pk.FixedHeader.Qos == 0 {
		f.queuedOut(w)
		return
	}
	if held {
		f.release(cl, pk.PacketID)
	} else if !pk.FixedHeader.Dup {
		f.queuedOut(w)
	}
}

// hold records pk as written and awaiting acknowledgement. w.mu is held.
func (w *window) hold(pk packets.Packet) {
	if w.held == nil {
		w.held = make(map[uint16]packets.Packet, 1)
	}
	w.held[pk.PacketID] = pk
}

// isBusy reports whether cl's backlog is long enough that devices
// publishing to it should wait.
func (f *flow) isBusy(cl *mqtt.Client) bool {
	v, ok := f.windows.Load(cl)
	if !ok {
		return false
	}
	w := v.(*window)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy
}

// acked is called for every packet read from cl: acknowledgements of the
// broker's deliveries free their slots.
func (f *flow) acked(cl *mqtt.Client, pk packets.Packet) {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubcomp:
		f.release(cl, pk.PacketID)
	case packets.Pubrec:
		if pk.ReasonCode >= packets.ErrUnspecifiedError.Code {
			f.release(cl, pk.PacketID) // the QoS 2 flow ends here [MQTT-4.3.3-4]
		}
		// Otherwise the slot is held until PUBCOMP.
	}
}

// release frees the slot of packet ID id and gives free slots to the oldest
// backlogged deliveries that Mochi still holds, writing them.
func (f *flow) release(cl *mqtt.Client, id uint16) {
	v, ok := f.windows.Load(cl)
	if !ok {
		return
	}
	w := v.(*window)
	var next []packets.Packet
	w.mu.Lock()
	delete(w.held, id)
	if len(w.held) == 0 {
		w.held = nil // let the map go; hold makes a new one
	}
	for len(w.held) < w.size && len(w.backlog) > 0 {
		b := w.backlog[0]
		w.backlog = w.backlog[1:]
		if in, ok := cl.State.Inflight.Get(b.PacketID); !ok || in.FixedHeader.Type != packets.Publish {
			// Mochi lost its copy (see restore); it must hold one so the
			// delivery is resent if the session resumes.
			cl.State.Inflight.Set(b)
		}
		w.hold(b)
		next = append(next, b)
	}
	if len(w.backlog) == 0 {
		w.backlog = nil // let the array go
	}
	var freed bool
	if w.backlogBusy && len(w.backlog) <= f.highWater/2 {
		w.backlogBusy = false
		freed = f.settle(w)
	}
	w.mu.Unlock()
	if freed {
		f.signalRoom()
	}
	for _, b := range next {
		_ = cl.WritePacket(b)
	}
}

// dropped forgets a delivery Mochi gave up on (it expired): it frees its
// slot, or takes it out of the backlog.
func (f *flow) dropped(cl *mqtt.Client, id uint16) {
	v, ok := f.windows.Load(cl)
	if !ok {
		return
	}
	w := v.(*window)
	w.mu.Lock()
	_, wasHeld := w.held[id]
	for i, b := range w.backlog {
		if b.PacketID == id {
			w.backlog = append(w.backlog[:i:i], w.backlog[i+1:]...)
			break
		}
	}
	w.mu.Unlock()
	if wasHeld {
		f.release(cl, id)
	}
}

// restore puts back Mochi's copy of a delivery that Mochi itself erased.
// Mochi keeps the packets a client sends (inbound QoS 1/2) and the ones it
// sends that client in one table keyed by packet ID, although the two
// sides choose their IDs independently: when the client publishes with an
// ID that one of its pending deliveries also has, Mochi overwrites the
// delivery with its acknowledgement and then deletes it, so the delivery
// would be neither resent on resumption nor, if backlogged, written at all.
// restore runs after each inbound PUBLISH or PUBREL is processed.
func (f *flow) restore(cl *mqtt.Client, id uint16) {
	v, ok := f.windows.Load(cl)
	if !ok {
		return
	}
	w := v.(*window)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := cl.State.Inflight.Get(id); ok {
		return // ours is still there, or the inbound QoS 2 flow still holds the ID
	}
	if pk, ok := w.held[id]; ok {
		cl.State.Inflight.Set(pk)
		return
	}
	for _, b := range w.backlog {
		if b.PacketID == id {
			cl.State.Inflight.Set(b)
			return
		}
	}
}

// forget drops cl's window; its backlog is still in Mochi's inflight table
// and is resent if the session resumes.
func (f *flow) forget(cl *mqtt.Client) {
	if v, ok := f.windows.LoadAndDelete(cl); ok {
		w := v.(*window)
		w.mu.Lock()
		w.backlogBusy, w.queueBusy = false, false
		freed := f.settle(w)
		w.mu.Unlock()
		if freed {
			f.signalRoom()
		}
	}
}

// overflow takes over a delivery that Mochi dropped because cl's outbound
// queue was full (Mochi rolls the delivery back and reports only the
// original publish): it is rebuilt for cl's subscription. A QoS 0 delivery
// is written now, from the publisher's goroutine (the queue guard above
// makes this rare: it takes more publishers between their wait and their
// delivery than half the queue); a QoS 1/2 one is written now if the
// window has room, else backlogged. Either may overtake deliveries still
// in the queue. A rebuilt QoS 1/2 delivery is not written to the bolt
// store, so it survives a disconnect but not a broker restart.
func (f *flow) overflow(cl *mqtt.Client, pk packets.Packet, maxQoS byte) {
	v, ok := f.windows.Load(cl)
	if !ok {
		return
	}
	w := v.(*window)
	sub, ok := subscriptionFor(cl, pk.TopicName)
	if !ok {
		f.queuedOut(w) // counted in, never queued
		return
	}
	out := pk.Copy(false)
	out.FixedHeader.Qos = min(pk.FixedHeader.Qos, sub.Qos, maxQoS)
	if !sub.RetainAsPublished {
		out.FixedHeader.Retain = false
	}
	if out.FixedHeader.Qos == 0 {
		_ = cl.WritePacket(out) // encode counts it out
		return
	}
	f.queuedOut(w) // counted in, never queued
	id, err := cl.NextPacketID()
	if err != nil {
		return // packet IDs exhausted: the client has 65,535 messages waiting
	}
	out.PacketID = uint16(id)
	cl.State.Inflight.Set(out)
	w.mu.Lock()
	now := len(w.held) < w.size
	if now {
		w.hold(out)
	} else {
		w.backlog = append(w.backlog, out)
	}
	w.mu.Unlock()
	if now {
		_ = cl.WritePacket(out)
	}
}

// subscriptionFor returns cl's subscription that topic matches.
func subscriptionFor(cl *mqtt.Client, topic string) (packets.Subscription, bool) {
	if sub, ok := cl.State.Subscriptions.Get(topic); ok {
		return sub, true
	}
	for filter, sub := range cl.State.Subscriptions.GetAll() {
		if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
			if _, f, ok := strings.Cut(rest, "/"); ok {
				filter = f
			}
		}
		if topicMatches(filter, topic) {
			return sub, true
		}
	}
	return packets.Subscription{}, false
}

// topicMatches reports whether an MQTT topic filter matches a topic name.
func topicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && !strings.HasPrefix(filter, "$") {
		return false // [MQTT-4.7.2-1]
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		switch {
		case fl == "#":
			return true
		case fl != "+" && fl != tl:
			return false
		case !fmore && !tmore:
			return true
		case !fmore:
			return false
		case !tmore:
			return frest == "#"
		}
		filter, topic = frest, trest
	}
}

// describe summarizes every window, for diagnosing a stalled client.
func (f *flow) describe() string {
	var b strings.Builder
	f.windows.Range(func(k, v any) bool {
		cl, w := k.(*mqtt.Client), v.(*window)
		w.mu.Lock()
		fmt.Fprintf(&b, "%s: window %d, on the wire %d, backlog %d, queued %d, busy %v, stored %d\n", cl.ID, w.size, len(w.held), len(w.backlog), w.queued.Load(), w.busy, cl.State.Inflight.Len())
		w.mu.Unlock()
		return true
	})
	return b.String()
}
