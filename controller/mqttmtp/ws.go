package mqttmtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// dialWebSocket opens MQTT over WebSocket (subprotocol "mqtt", binary
// messages) and returns it as a net.Conn for paho.
func dialWebSocket(ctx context.Context, u *url.URL, tlsCfg *tls.Config) (*wsConn, error) {
	d := websocket.Dialer{
		Subprotocols:    []string{"mqtt"},
		TLSClientConfig: tlsCfg,
		Proxy:           websocket.DefaultDialer.Proxy,
	}
	if deadline, ok := ctx.Deadline(); ok {
		d.HandshakeTimeout = time.Until(deadline)
	}
	ws, resp, err := d.DialContext(ctx, u.String(), nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	return &wsConn{Conn: ws}, nil
}

// wsConn is a WebSocket as the byte stream paho expects: reads run across
// message boundaries, and each write is one binary message. The
// packetConn around it writes whole packets, one at a time.
type wsConn struct {
	*websocket.Conn

	rmu sync.Mutex // guards r
	r   io.Reader  // the message being read, nil between messages
}

// Write sends p as one binary message. Callers write one at a time.
func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// SetDeadline sets both deadlines, as net.Conn requires.
func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
