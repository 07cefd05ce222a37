package mqttmtp

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// readBufferSize is the read buffer of a broker connection. The inbox of
// a busy controller receives many small packets at once; one read takes
// in all that have arrived.
const readBufferSize = 16 << 10

// maxKeptWriteBuffer is the largest packet buffer kept for the next
// packet; a larger one (a big Set) is let go once sent.
const maxKeptWriteBuffer = 64 << 10

// packetConn is the net.Conn the paho client uses, whatever the transport.
//
// paho reads a packet's type and length a byte at a time before its body,
// each a system call on a bare socket, so reads are buffered.
//
// paho writes each packet in several pieces between Lock and Unlock
// (packets.ControlPacket.WriteTo, its way of making a connection safe for
// concurrent writers). packetConn collects the pieces and sends the packet
// in one write: one system call, one TLS record or one WebSocket message.
type packetConn struct {
	net.Conn
	r io.Reader // buffered over TCP and TLS; a WebSocket reads whole messages

	mu sync.Mutex // held from Lock to Unlock; guards buf and writing
	// buf collects the pieces of the packet being written; writing says a
	// packet is being written.
	buf     []byte
	writing bool
}

var _ interface {
	net.Conn
	sync.Locker
} = (*packetConn)(nil)

func newPacketConn(c net.Conn, buffered bool) *packetConn {
	var r io.Reader = c
	if buffered {
		r = bufio.NewReaderSize(c, readBufferSize)
	}
	return &packetConn{Conn: c, r: r}
}

func (c *packetConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet.
func (c *packetConn) Lock() {
	c.mu.Lock()
	c.writing = true
}

// Unlock sends the packet. paho has already been told that its pieces
// were written, so a failed write closes the connection: the read loop
// then fails and the connection is reported lost.
func (c *packetConn) Unlock() {
	if len(c.buf) > 0 {
		if _, err := c.Conn.Write(c.buf); err != nil {
			_ = c.Conn.Close()
		}
	}
	if cap(c.buf) > maxKeptWriteBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	c.writing = false
	c.mu.Unlock()
}

// Write adds p to the packet being written, or writes it at once when
// called outside Lock and Unlock.
func (c *packetConn) Write(p []byte) (int, error) {
	if c.writing { // only the goroutine holding mu can see true here
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}
