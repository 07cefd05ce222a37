// Package pahoconn holds what Cuttle's two paho.golang clients, the
// controller's (controller/mqttmtp) and the simulated devices'
// (simulator/fleet), need around paho: a connection that writes each
// packet whole, a WebSocket as the byte stream paho reads, and a session
// state that stores nothing for resending.
package pahoconn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/gorilla/websocket"
)

// Options shape a Conn.
type Options struct {
	// ReadBuffer buffers reads with this many bytes; 0 reads straight from
	// the connection (TLS and WebSocket buffer already). paho reads each
	// packet's type and length a byte at a time before its body, each a
	// system call on a bare socket.
	ReadBuffer int
	// KeepBuffer is the largest packet buffer kept for the next packet; a
	// larger one (a big Set or response) is let go once sent.
	KeepBuffer int
	// WriteTimeout bounds each packet's write; 0 sets no deadline.
	WriteTimeout time.Duration
}

// Conn is the net.Conn a paho client uses, whatever the transport.
//
// paho writes each packet in several pieces between Lock and Unlock
// (packets.ControlPacket.WriteTo, its way of making a connection safe for
// concurrent writers). Conn collects the pieces and sends the packet in
// one write: one system call, one TLS record or one WebSocket message, and
// no other packet (such as the PINGREQ paho sends from its own goroutine)
// between them.
type Conn struct {
	net.Conn
	r    io.Reader
	opts Options

	mu sync.Mutex // held from Lock to Unlock; guards buf and writing
	// buf collects the pieces of the packet being written; writing says a
	// packet is being written.
	buf     []byte
	writing bool
}

var _ interface {
	net.Conn
	sync.Locker
} = (*Conn)(nil)

// New wraps c.
func New(c net.Conn, o Options) *Conn {
	var r io.Reader = c
	if o.ReadBuffer > 0 {
		r = bufio.NewReaderSize(c, o.ReadBuffer)
	}
	return &Conn{Conn: c, r: r, opts: o}
}

func (c *Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet.
func (c *Conn) Lock() {
	c.mu.Lock()
	c.writing = true
}

// Unlock sends the packet. paho has already been told that its pieces
// were written, so a failed write closes the connection: the reader then
// fails and the client reports the connection lost.
func (c *Conn) Unlock() {
	if len(c.buf) > 0 {
		if _, err := c.write(c.buf); err != nil {
			_ = c.Conn.Close()
		}
	}
	if cap(c.buf) > c.opts.KeepBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	c.writing = false
	c.mu.Unlock()
}

// Write adds p to the packet being written, or writes it at once when
// called outside Lock and Unlock.
func (c *Conn) Write(p []byte) (int, error) {
	if c.writing { // only the goroutine holding mu can see true here
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(p)
}

func (c *Conn) write(p []byte) (int, error) {
	if c.opts.WriteTimeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	}
	return c.Conn.Write(p)
}

// WebSocket is a WebSocket as the byte stream paho expects: reads run
// across message boundaries, as MQTT over WebSocket allows, and each write
// is one binary message. Wrap it in a Conn, which writes whole packets
// one at a time.
type WebSocket struct {
	*websocket.Conn

	rmu sync.Mutex // guards r
	r   io.Reader  // the message being read, nil between messages
}

// Write sends p as one binary message. Callers write one at a time.
func (w *WebSocket) Write(p []byte) (int, error) {
	if err := w.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *WebSocket) Read(p []byte) (int, error) {
	w.rmu.Lock()
	defer w.rmu.Unlock()
	for {
		if w.r == nil {
			typ, r, err := w.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: MQTT needs binary messages, got type %d", typ)
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if err == io.EOF {
			w.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// SetDeadline sets both deadlines, as net.Conn requires.
func (w *WebSocket) SetDeadline(t time.Time) error {
	if err := w.SetReadDeadline(t); err != nil {
		return err
	}
	return w.SetWriteDeadline(t)
}

// NewSession returns paho's session state for one connection, with
// nothing stored for resending. paho's default keeps a serialized copy of
// every QoS 1 PUBLISH until its PUBACK, to resend it when a session is
// resumed; Cuttle's clients start every connection clean and without
// session expiry, so paho would discard those copies unread. Skipping them
// saves an encoding of every publish.
//
// paho does not close a session it was given; none needs closing: the
// connection's loss clears its state, and it holds nothing else.
func NewSession() *state.State {
	return state.New(noStore{}, noStore{})
}

// noStore is a paho session store that keeps nothing.
type noStore struct{}

var errNotStored = errors.New("pahoconn: session packets are not stored")

func (noStore) Put(uint16, byte, io.WriterTo) error { return nil }
func (noStore) Get(uint16) (io.ReadCloser, error)   { return nil, errNotStored }
func (noStore) Delete(uint16) error                 { return nil }
func (noStore) Quarantine(uint16) error             { return nil }
func (noStore) List() ([]uint16, error)             { return nil, nil }
func (noStore) Reset() error                        { return nil }
