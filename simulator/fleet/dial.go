package fleet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"cuttle/internal/pahoconn"
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
		return newConn(&pahoconn.WebSocket{Conn: ws}, false), nil
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

// newConn wraps c for paho (internal/pahoconn): whole packets, each
// write bounded by writeTimeout, a small read buffer over plain TCP (TLS
// and WebSocket buffer already), and no large buffer kept per device.
func newConn(c net.Conn, buffered bool) *pahoconn.Conn {
	o := pahoconn.Options{KeepBuffer: 4 << 10, WriteTimeout: writeTimeout}
	if buffered {
		o.ReadBuffer = 512
	}
	return pahoconn.New(c, o)
}
