package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// guard enforces the connection limits Mochi lacks, for every listener:
// a total cap, a cap per source IP, and a deadline for the CONNECT packet
// (a slowloris client otherwise holds a goroutine and a socket forever).
type guard struct {
	maxTotal, maxPerIP int
	connectTimeout     time.Duration
	metrics            *metrics

	total atomic.Int64
	mu    sync.Mutex     // guards perIP
	perIP map[string]int // open connections by source IP
}

func newGuard(cfg *Config, m *metrics) *guard {
	return &guard{maxTotal: cfg.MaxConnections, maxPerIP: cfg.MaxConnectionsPerIP, connectTimeout: cfg.ConnectTimeout, metrics: m, perIP: map[string]int{}}
}

// admit reserves a slot for a connection from ip, or reports which cap
// refused it.
func (g *guard) admit(ip string) (release func(), refused string) {
	if g.total.Add(1) > int64(g.maxTotal) {
		g.total.Add(-1)
		return nil, "total"
	}
	g.mu.Lock()
	if g.perIP[ip] >= g.maxPerIP {
		g.mu.Unlock()
		g.total.Add(-1)
		return nil, "per_ip"
	}
	g.perIP[ip]++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.total.Add(-1)
			g.mu.Lock()
			if g.perIP[ip]--; g.perIP[ip] <= 0 {
				delete(g.perIP, ip)
			}
			g.mu.Unlock()
		})
	}, ""
}

// conn wraps every accepted connection so hooks can find its listener's
// policy, its source IP and its client certificate, and so the guard's slot
// is released exactly once.
type conn struct {
	net.Conn
	listener *listener
	ip       string
	// peerCerts returns the verified client certificate chain, if any.
	peerCerts func() []*x509.Certificate
	release   func()
	out       outbox // batches writes (outbox.go)
}

// Write hands p to the connection's outbox, which writes it to the socket
// at once or together with the packets written just before it.
func (c *conn) Write(p []byte) (int, error) { return c.out.write(c.Conn, p) }

// Close lets what is waiting in the outbox go out first (bounded).
func (c *conn) Close() error {
	c.out.close(c.Conn, closeFlushTimeout)
	err := c.Conn.Close()
	c.release()
	return err
}

// clientCert returns the leaf client certificate, or nil.
func (c *conn) clientCert() *x509.Certificate {
	if c.peerCerts == nil {
		return nil
	}
	if chain := c.peerCerts(); len(chain) > 0 {
		return chain[0]
	}
	return nil
}

// listener is a Mochi listener (TCP, TLS, WebSocket or secure WebSocket)
// that runs every connection through the guard. Mochi's own listeners are
// not used because they offer no hook between accept and CONNECT.
type listener struct {
	cfg   ListenerConfig
	tls   *tls.Config // nil for plain listeners
	guard *guard
	log   *slog.Logger
	ln    net.Listener
	// closeClients disconnects the listener's clients on Close (see
	// Broker.closeListenerClients).
	closeClients func(name string)
	mu           sync.Mutex   // guards http: Serve sets it while Close may run
	http         *http.Server // WebSocket listeners only
	closed       atomic.Bool
	wg           sync.WaitGroup // goroutines running establish
	connsMu      sync.Mutex     // guards conns, stopping and additions to wg
	conns        map[*conn]struct{}
	stopping     bool // Close is waiting for wg: no more establish calls
}

var _ listeners.Listener = (*listener)(nil)

func (l *listener) ID() string       { return l.cfg.Name }
func (l *listener) Protocol() string { return l.cfg.Type }

// Address returns the bound address, which differs from the configured one
// when the port was 0.
func (l *listener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.cfg.Addr
}

// Init opens the socket. It is called by Mochi's AddListener, so a port in
// use fails the broker's start with a clear error.
func (l *listener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.cfg.Addr)
	if err != nil {
		return err
	}
	l.ln = ln
	return nil
}

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	if l.cfg.Type == ListenerWS || l.cfg.Type == ListenerWSS {
		l.serveWebSocket(establish)
		return
	}
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: back off
				continue
			}
			l.log.Error("accept failed", "listener", l.cfg.Name, "error", err)
			return
		}
		wrapped := l.wrap(c, nil)
		if wrapped == nil {
			continue
		}
		if l.tls != nil {
			tc := tls.Server(c, l.tls)
			wrapped.Conn = tc
			wrapped.peerCerts = func() []*x509.Certificate { return tc.ConnectionState().PeerCertificates }
		}
		if !l.startEstablish() {
			_ = wrapped.Close()
			return
		}
		go func() {
			defer l.wg.Done()
			_ = establish(l.cfg.Name, wrapped)
		}()
	}
}

// startEstablish counts one more establish call in wg, unless Close has
// begun waiting for them.
func (l *listener) startEstablish() bool {
	l.connsMu.Lock()
	defer l.connsMu.Unlock()
	if l.stopping {
		return false
	}
	l.wg.Add(1)
	return true
}

// wrap admits c through the guard and arms the CONNECT deadline, or closes
// c and returns nil when a cap refuses it.
func (l *listener) wrap(c net.Conn, certs func() []*x509.Certificate) *conn {
	ip := remoteIP(c.RemoteAddr())
	release, refused := l.guard.admit(ip)
	if refused != "" {
		l.guard.metrics.connRefused.WithLabelValues(l.cfg.Name, refused).Inc()
		_ = c.Close()
		return nil
	}
	// Mochi replaces this deadline with the keep-alive one once CONNECT is
	// read; until then it bounds the TLS handshake and the CONNECT packet.
	_ = c.SetDeadline(time.Now().Add(l.guard.connectTimeout))
	wc := &conn{Conn: c, listener: l, ip: ip, peerCerts: certs}
	l.connsMu.Lock()
	if l.conns == nil {
		l.conns = map[*conn]struct{}{}
	}
	l.conns[wc] = struct{}{}
	l.connsMu.Unlock()
	wc.release = func() {
		release()
		l.connsMu.Lock()
		delete(l.conns, wc)
		l.connsMu.Unlock()
	}
	return wc
}

func (l *listener) serveWebSocket(establish listeners.EstablishFn) {
	upgrader := websocket.Upgrader{
		Subprotocols: []string{"mqtt"},
		// Devices and tools are not browsers; the console uses its own origin.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc(l.cfg.Path, func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered the request
		}
		var certs func() []*x509.Certificate
		if r.TLS != nil {
			chain := r.TLS.PeerCertificates
			certs = func() []*x509.Certificate { return chain }
		}
		wc := l.wrap(&wsConn{Conn: ws}, certs)
		if wc == nil {
			return
		}
		if !l.startEstablish() {
			_ = wc.Close()
			return
		}
		defer l.wg.Done()
		_ = establish(l.cfg.Name, wc)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: l.guard.connectTimeout, TLSConfig: l.tls}
	l.mu.Lock()
	l.http = srv
	l.mu.Unlock()
	ln := l.ln
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.closed.Load() {
		l.log.Error("websocket listener stopped", "listener", l.cfg.Name, "error", err)
	}
}

// Close stops accepting and closes the listener's clients through closeClients.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.closed.Store(true)
	l.mu.Lock()
	srv := l.http
	l.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if l.ln != nil {
		_ = l.ln.Close()
	}
	if l.closeClients != nil {
		l.closeClients(l.cfg.Name)
	} else {
		closeClients(l.cfg.Name)
	}
	// Mochi counts a connection in its ClientsWg from inside
	// EstablishConnection and waits on that group right after this
	// returns; an Add racing with that Wait is a data race. So every
	// connection of this listener is closed (those still before CONNECT
	// too) and every establish call is waited for here, bounded.
	l.connsMu.Lock()
	l.stopping = true
	for c := range l.conns {
		_ = c.Conn.Close()
	}
	l.connsMu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		l.log.Warn("listener closed with connections still ending", "listener", l.cfg.Name)
	}
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// wsConn adapts a WebSocket connection to the byte stream Mochi reads: MQTT
// packets may span WebSocket messages and one message may carry several.
type wsConn struct {
	*websocket.Conn
	mu sync.Mutex // guards writes: gorilla allows one concurrent writer
	r  io.Reader  // the current message, nil between messages
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("websocket: MQTT needs binary messages")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetDeadline sets both deadlines. Mochi calls it from the read loop while
// the write loop may be writing, and gorilla's write deadline is not safe
// to change during a write, hence the lock.
func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline sets the write deadline under the write lock.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}
