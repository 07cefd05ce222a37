package broker

import (
	"sync"

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
// The remedy has two halves:
//
//  1. Mochi's send quota and its maximum are set to zero when a session is
//     established. The read loop only enters NextImmediate when the quota is
//     above zero, and with a zero maximum the quota never rises again, so the
//     deadlocking call never happens. A zero maximum also switches off
//     Mochi's quota-based queueing: Mochi hands every QoS 1/2 delivery to the
//     client's write loop at once, and the number stored unacknowledged is
//     capped only by Config.MaxInflight.
//  2. For a client whose Receive Maximum is below MaxInflight, the broker
//     keeps the window itself, without ever blocking a publisher: when the
//     write loop is about to encode a delivery (OnPacketEncode) and the
//     client already has Receive Maximum deliveries unacknowledged, the write
//     is skipped and the delivery joins the client's backlog. It stays in
//     Mochi's inflight table meanwhile, so it is also resent on session
//     resumption and persisted. Each PUBACK, PUBCOMP or failing PUBREC from
//     the client (seen in OnPacketRead) frees a slot, and the oldest
//     backlogged delivery is written from the client's own read loop.
//     Waiting instead (backpressure) was tried and rejected: a controller
//     blocked on one slow device's window stalls every device, and two
//     clients blocked on each other's windows deadlock.
//
// Clients announcing a Receive Maximum of at least MaxInflight (paho's and
// most clients' default is 65,535) need no window: Mochi's cap is stricter.
type flow struct {
	maxInflight int
	windows     sync.Map // *mqtt.Client -> *window, for clients that need one
}

// window is one client's Receive Maximum window.
type window struct {
	size int
	mu   sync.Mutex          // guards held and backlog
	held map[uint16]struct{} // packet IDs of deliveries written, awaiting acknowledgement
	// backlog holds deliveries whose write was skipped, oldest first.
	backlog []packets.Packet
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
	if rm := receiveMaximum(cl); rm < f.maxInflight {
		f.windows.Store(cl, &window{size: rm, held: map[uint16]struct{}{}})
	}
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
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 {
		return pk
	}
	v, ok := f.windows.Load(cl)
	if !ok {
		return pk
	}
	w := v.(*window)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.held[pk.PacketID]; ok {
		return pk // a resend, or a backlogged delivery being written now
	}
	if len(w.held) < w.size {
		w.held[pk.PacketID] = struct{}{}
		return pk
	}
	w.backlog = append(w.backlog, pk)
	return skipped
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
	for len(w.held) < w.size && len(w.backlog) > 0 {
		b := w.backlog[0]
		w.backlog = w.backlog[1:]
		if _, ok := cl.State.Inflight.Get(b.PacketID); !ok {
			continue // expired or dropped meanwhile
		}
		w.held[b.PacketID] = struct{}{}
		next = append(next, b)
	}
	if len(w.backlog) == 0 {
		w.backlog = nil // let the array go
	}
	w.mu.Unlock()
	for _, b := range next {
		_ = cl.WritePacket(b)
	}
}

// forget drops cl's window; its backlog is still in Mochi's inflight table
// and is resent if the session resumes.
func (f *flow) forget(cl *mqtt.Client) {
	f.windows.Delete(cl)
}
