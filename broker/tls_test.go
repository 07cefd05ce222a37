package broker

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"cuttle/broker/certs"
	"cuttle/broker/creds"
	"cuttle/internal/testpki"
)

// pki is a CA with a server certificate on disk and a broker TLS listener
// requiring client certificates from it.
type pki struct {
	ca       *testpki.CA
	dir      string
	certFile string
	keyFile  string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{ca: testpki.NewCA(t, "cuttle-test-ca"), dir: t.TempDir()}
	p.certFile, p.keyFile = testpki.WriteFiles(t, p.dir, p.ca.Server(t))
	return p
}

func (p *pki) listener(t *testing.T, auth string) ListenerConfig {
	return ListenerConfig{Name: "mtls", Type: ListenerTLS, Addr: "127.0.0.1:0", Auth: auth,
		TLS: certs.Config{CertFile: p.certFile, KeyFile: p.keyFile, ClientCAFile: p.ca.WriteCert(t, p.dir), PollInterval: 20 * time.Millisecond}}
}

// clientTLS returns a client configuration trusting p's CA and presenting
// cert (if any).
func (p *pki) clientTLS(cert *testpki.Pair) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Always present the certificate: Go's client otherwise holds back
		// one whose issuer the server did not list, which would hide the
		// other-CA case behind a plain no-certificate connect.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.TLS, nil }
	}
	return c
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	e := startEnv(t, func(c *Config) {
		c.Listeners = []ListenerConfig{p.listener(t, AuthCertOrPassword)}
		c.Lockout.MaxFailures = 1000
	})
	e.addCred(creds.RoleDevice, devA, "")
	secB := e.addCred(creds.RoleDevice, devB, "")
	good := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA}})
	revoked := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA}})
	unknown := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:os::012345-NOPE"}})
	expired := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	other := testpki.NewCA(t, "other-ca").Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA}})
	serial, _ := creds.CertSpecs(revoked.Cert)
	if err := e.store.RevokeCert(t.Context(), serial, "stolen"); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool { return e.mirror.IsRevoked(revoked.Cert) }, "revocation in mirror")

	cases := []struct {
		name      string
		o         dialOpts
		want      byte
		handshake bool // the TLS handshake itself must fail
	}{
		{"valid certificate", dialOpts{tls: p.clientTLS(&good)}, codeSuccess, false},
		{"valid certificate, own client id", dialOpts{tls: p.clientTLS(&good), clientID: devA}, codeSuccess, false},
		{"certificate with other username", dialOpts{tls: p.clientTLS(&good), username: devB, password: secB}, codeNotAuthorized, false},
		{"revoked certificate", dialOpts{tls: p.clientTLS(&revoked)}, codeNotAuthorized, false},
		{"certificate without credential", dialOpts{tls: p.clientTLS(&unknown)}, codeNotAuthorized, false},
		{"expired certificate", dialOpts{tls: p.clientTLS(&expired)}, 0, true},
		{"certificate from another CA", dialOpts{tls: p.clientTLS(&other)}, 0, true},
		{"no certificate, password", dialOpts{tls: p.clientTLS(nil), username: devB, password: secB}, codeSuccess, false},
		{"no certificate, no password", dialOpts{tls: p.clientTLS(nil)}, codeNotAuthorized, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.listener = "mtls"
			cl, code, err := e.dial(c.o)
			if c.handshake {
				if err == nil {
					t.Fatalf("connected (code 0x%02x) with a certificate the CA should refuse", code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code != c.want || (cl != nil) != (c.want == codeSuccess) {
				t.Fatalf("CONNACK 0x%02x, want 0x%02x", code, c.want)
			}
		})
	}

	// A certificate revoked while connected is disconnected at once.
	live := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA}})
	cl := e.mustDial(dialOpts{listener: "mtls", tls: p.clientTLS(&live)})
	_, fp := creds.CertSpecs(live.Cert)
	start := time.Now()
	if err := e.store.RevokeCert(t.Context(), fp, "lost"); err != nil {
		t.Fatal(err)
	}
	cl.expectRevoked(t, start, "session with a revoked certificate")
}

// TestCertificateHotReload replaces the server certificate on disk: new
// connections get the new one, the connected client stays connected.
func TestCertificateHotReload(t *testing.T) {
	p := newPKI(t)
	e := startEnv(t, func(c *Config) { c.Listeners = []ListenerConfig{p.listener(t, AuthCertOrPassword)} })
	sec := e.addCred(creds.RoleDevice, devA, "")
	e.addCred(creds.RoleController, ctlC, "")
	before := e.mustDial(dialOpts{listener: "mtls", tls: p.clientTLS(nil), username: devA, password: sec})
	first := serverCert(t, e.b.Addr("mtls"), p.clientTLS(nil))

	renewed := p.ca.Server(t)
	testpki.WriteFiles(t, p.dir, renewed)
	e.waitFor(func() bool {
		return bytes.Equal(serverCert(t, e.b.Addr("mtls"), p.clientTLS(nil)).Raw, renewed.Cert.Raw)
	}, "the renewed certificate to be served")
	if bytes.Equal(first.Raw, renewed.Cert.Raw) {
		t.Fatal("test bug: same certificate")
	}
	// The client connected before the renewal still works.
	if code := before.publish(t, publishRecord(devA, ctlC)); code != codeSuccess {
		t.Errorf("publish after reload: 0x%02x", code)
	}
	e.mustDial(dialOpts{listener: "mtls", tls: p.clientTLS(nil), username: devA, password: sec, clientID: devA})
}

func serverCert(t *testing.T, addr string, cfg *tls.Config) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}
