package mqttmtp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/gorilla/websocket"

	"cuttle/internal/pahoconn"
)

// dialWebSocket opens MQTT over WebSocket (subprotocol "mqtt", binary
// messages) and returns it as a net.Conn for paho.
func dialWebSocket(ctx context.Context, u *url.URL, tlsCfg *tls.Config) (*pahoconn.WebSocket, error) {
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
	return &pahoconn.WebSocket{Conn: ws}, nil
}

// newPacketConn wraps a broker connection for paho (internal/pahoconn):
// whole packets, and reads through a 16 KiB buffer over TCP and TLS, since
// the inbox of a busy controller receives many small packets at once and
// one read takes in all that have arrived.
func newPacketConn(c net.Conn, buffered bool) *pahoconn.Conn {
	o := pahoconn.Options{KeepBuffer: 64 << 10}
	if buffered {
		o.ReadBuffer = 16 << 10
	}
	return pahoconn.New(c, o)
}
