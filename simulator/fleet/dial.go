package fleet

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// writeTimeout bounds one packet write: a broker that stops reading fails
// the connection instead of blocking the device (and the shared ticker
// that publishes its notifications).
const writeTimeout = 10 * time.Second

// dial opens the network connection to broker u, presenting cert on TLS.
func (f *Fleet) dial(ctx context.Context, u *url.URL, cert *tls.Certificate) (net.Conn, error) {
	switch u.Scheme {
	case "mqtt", "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", hostPort(u, "1883"))
		if err != nil {
			return nil, err
		}
		return newConn(c, true), nil
	case "mqtts", "ssl", "tls":
		d := tls.Dialer{Config: f.tlsConfig(u, cert)}
		c, err := d.DialContext(ctx, "tcp", hostPort(u, "8883"))
		if err != nil {
			return nil, err
		}
		return newConn(c, false), nil
	case "ws", "wss":
		d := websocket.Dialer{
			Subprotocols:     []string{"mqtt"},
			HandshakeTimeout: f.cfg.ConnectTimeout,
			ReadBufferSize:   1024,
			WriteBufferSize:  1024,
			WriteBufferPool:  &wsWriteBuffers,
			Proxy:            nil, // devices talk to the broker directly
		}
		if u.Scheme == "wss" {
			d.TLSClientConfig = f.tlsConfig(u, cert)
		}
		ws, resp, err := d.DialContext(ctx, u.String(), nil)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("websocket: %w", err)
		}
		return newConn(&wsConn{Conn: ws}, false), nil
	}
	return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

// wsWriteBuffers shares WebSocket write buffers between connections, which
// are idle most of the time.
var wsWriteBuffers sync.Pool

func hostPort(u *url.URL, defPort string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), defPort)
}

// tlsConfig returns the configuration of one TLS connection to u.
func (f *Fleet) tlsConfig(u *url.URL, cert *tls.Certificate) *tls.Config {
	var c *tls.Config
	if f.cfg.TLS != nil {
		c = f.cfg.TLS.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = u.Hostname()
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12 // R-MQTT.48
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// conn is the net.Conn a paho client uses. paho writes each packet between
// Lock and Unlock (packets.ControlPacket.WriteTo, the documented way to
// make a connection safe for concurrent writers), in three or more pieces;
// conn collects them and sends the packet in one write: one TCP segment or
// one WebSocket message per packet. Writes carry a deadline.
type conn struct {
	net.Conn
	r io.Reader // a small buffer over plain TCP; TLS and WebSocket buffer already

	mu sync.Mutex // held from Lock to Unlock; guards buf and locked
	// buf collects the pieces of the packet being written; locked says a
	// packet is being written.
	buf    []byte
	locked bool
}

func newConn(c net.Conn, buffered bool) *conn {
	var r io.Reader = c
	if buffered {
		r = bufio.NewReaderSize(c, 512)
	}
	return &conn{Conn: c, r: r}
}

func (c *conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Lock starts a packet.
func (c *conn) Lock() {
	c.mu.Lock()
	c.locked = true
}

// Unlock sends the packet. A failed write closes the connection, so the
// reader fails and the client reports the loss: paho has already been told
// the pieces were written.
func (c *conn) Unlock() {
	if len(c.buf) > 0 {
		if _, err := c.write(c.buf); err != nil {
			_ = c.Conn.Close()
		}
	}
	if cap(c.buf) > 4<<10 {
		c.buf = nil // a large response was sent; do not keep its buffer
	} else {
		c.buf = c.buf[:0]
	}
	c.locked = false
	c.mu.Unlock()
}

// Write adds to the packet being written, or writes at once when called
// outside Lock and Unlock.
func (c *conn) Write(p []byte) (int, error) {
	if c.locked { // only the goroutine holding mu can see true here
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.write(p)
}

func (c *conn) write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.Conn.Write(p)
}

// wsConn carries MQTT over a WebSocket: each write is one binary message,
// and reads run across message boundaries, as MQTT over WebSocket allows.
type wsConn struct {
	*websocket.Conn
	r io.Reader // the current message; only paho's reader goroutine reads
}

func (w *wsConn) Read(p []byte) (int, error) {
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

func (w *wsConn) Write(p []byte) (int, error) {
	if err := w.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsConn) SetDeadline(t time.Time) error {
	if err := w.SetReadDeadline(t); err != nil {
		return err
	}
	return w.SetWriteDeadline(t)
}
