package certs

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/internal/testpki"
	"cuttle/internal/testutil"
)

// server is a TLS server on 127.0.0.1:0. On each connection it first sends
// the client certificate's CommonName ("-" without one), then echoes.
type server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

func startServer(t *testing.T, cfg *tls.Config) *server {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Go(s.accept)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c.(*tls.Conn))
		})
	}
}

func (s *server) serve(c *tls.Conn) {
	if err := c.Handshake(); err != nil {
		return
	}
	id := "-"
	if pcs := c.ConnectionState().PeerCertificates; len(pcs) > 0 {
		id = pcs[0].Subject.CommonName
	}
	if _, err := fmt.Fprintf(c, "%s\n", id); err != nil {
		return
	}
	_, _ = io.Copy(c, c)
}

// client is one connection to a server.
type client struct {
	conn *tls.Conn
	r    *bufio.Reader
	id   string // what the server saw of the client certificate
}

// dial connects and reads the server's greeting. TLS 1.3 reports a refused
// client certificate only after the client's side of the handshake is done,
// so reading the greeting is what makes a refusal show up here.
func dial(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) (*client, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots}
	if cert != nil {
		// Send the certificate whatever CAs the server asks for: Go's
		// client would otherwise hold back one the server does not name,
		// and an attacker's client would not.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	id, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, r: r, id: strings.TrimSuffix(id, "\n")}, nil
}

// mustDial is dial for connections that must succeed.
func mustDial(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) *client {
	t.Helper()
	c, err := dial(t, addr, roots, cert)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func (c *client) serverSerial() *big.Int {
	return c.conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// echo exchanges a line on c, proving the connection still works.
func (c *client) echo(t *testing.T, msg string) {
	t.Helper()
	if _, err := fmt.Fprintf(c.conn, "%s\n", msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got != msg+"\n" {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

func newLogger() (*slog.Logger, *testutil.Buffer) {
	buf := &testutil.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fixture is a CA, a directory, and server certificate A written into it.
type fixture struct {
	ca                *testpki.CA
	dir               string
	certFile, keyFile string
	roots             *x509.CertPool
	a                 testpki.Pair
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ca: testpki.NewCA(t, "server CA"), dir: t.TempDir()}
	f.a = f.ca.Server(t)
	f.certFile, f.keyFile = testpki.WriteFiles(t, f.dir, f.a)
	f.roots = x509.NewCertPool()
	f.roots.AddCert(f.ca.Cert)
	return f
}
