package certs

import (
	"crypto/tls"
	"testing"
	"time"

	"cuttle/internal/testpki"
	"cuttle/internal/testutil"
)

func TestClientAuth(t *testing.T) {
	testutil.CheckGoroutines(t, 3*time.Second)
	f := newFixture(t)
	clientCA, otherCA := testpki.NewCA(t, "device CA"), testpki.NewCA(t, "other CA")
	caFile := clientCA.WriteCert(t, t.TempDir())
	past := time.Now().Add(-48 * time.Hour)
	tlsCert := func(p testpki.Pair) *tls.Certificate { return &p.TLS }
	certs := map[string]*tls.Certificate{
		"none":       nil,
		"valid":      tlsCert(clientCA.Client(t, testpki.ClientOpts{CN: "dev1"})),
		"other CA":   tlsCert(otherCA.Client(t, testpki.ClientOpts{CN: "dev1"})),
		"expired":    tlsCert(clientCA.Client(t, testpki.ClientOpts{CN: "dev1", NotBefore: past, NotAfter: past.Add(time.Hour)})),
		"not yet":    tlsCert(clientCA.Client(t, testpki.ClientOpts{CN: "dev1", NotBefore: time.Now().Add(time.Hour)})),
		"server EKU": tlsCert(clientCA.Server(t)),
	}
	cases := []struct {
		mode   string
		client string
		want   string // the identity the server sees; "" = refused
	}{
		{ClientAuthRequire, "valid", "dev1"},
		{ClientAuthRequire, "none", ""},
		{ClientAuthRequire, "other CA", ""},
		{ClientAuthRequire, "expired", ""},
		{ClientAuthRequire, "not yet", ""},
		{ClientAuthRequire, "server EKU", ""},
		{ClientAuthRequest, "valid", "dev1"},
		{ClientAuthRequest, "none", "-"},
		{ClientAuthRequest, "other CA", ""},
		{ClientAuthRequest, "expired", ""},
	}
	servers := map[string]*server{}
	for _, mode := range []string{ClientAuthRequire, ClientAuthRequest} {
		r, err := New(Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: caFile, ClientAuth: mode})
		if err != nil {
			t.Fatal(err)
		}
		servers[mode] = startServer(t, r.TLSConfig())
	}
	for _, tc := range cases {
		t.Run(tc.mode+"/"+tc.client, func(t *testing.T) {
			c, err := dial(t, servers[tc.mode].addr(), f.roots, certs[tc.client])
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("accepted, server saw %q", c.id)
			case tc.want != "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && c.id != tc.want:
				t.Fatalf("server saw %q, want %q", c.id, tc.want)
			}
		})
	}
}

func TestClientCAReload(t *testing.T) {
	f := newFixture(t)
	ca1, ca2 := testpki.NewCA(t, "CA 1"), testpki.NewCA(t, "CA 2")
	caFile := ca1.WriteCert(t, t.TempDir())
	dev1 := ca1.Client(t, testpki.ClientOpts{CN: "dev1"})
	dev2 := ca2.Client(t, testpki.ClientOpts{CN: "dev2"})

	r, err := New(Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, r.TLSConfig())
	old := mustDial(t, srv.addr(), f.roots, &dev1.TLS)
	if _, err := dial(t, srv.addr(), f.roots, &dev2.TLS); err == nil {
		t.Fatal("CA 2's client accepted before the reload")
	}

	// Move trust from CA 1 to CA 2.
	testpki.WriteAtomic(t, caFile, ca2.CertPEM)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if c, err := dial(t, srv.addr(), f.roots, &dev2.TLS); err != nil || c.id != "dev2" {
		t.Errorf("CA 2's client after the reload: %v", err)
	}
	if _, err := dial(t, srv.addr(), f.roots, &dev1.TLS); err == nil {
		t.Error("CA 1's client accepted after the reload")
	}
	old.echo(t, "established before the reload")

	// A bundle trusts both.
	testpki.WriteAtomic(t, caFile, testpki.Bundle(ca1, ca2))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []testpki.Pair{dev1, dev2} {
		if _, err := dial(t, srv.addr(), f.roots, &dev.TLS); err != nil {
			t.Errorf("%s with the bundle: %v", dev.Cert.Subject.CommonName, err)
		}
	}
}

func TestMinVersion(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		min, client uint16
		ok          bool
	}{
		{0, tls.VersionTLS11, false},
		{0, tls.VersionTLS12, true},
		{tls.VersionTLS13, tls.VersionTLS12, false},
		{tls.VersionTLS13, tls.VersionTLS13, true},
	}
	for _, tc := range cases {
		t.Run(tls.VersionName(tc.min)+"/"+tls.VersionName(tc.client), func(t *testing.T) {
			r, err := New(Config{CertFile: f.certFile, KeyFile: f.keyFile, MinVersion: tc.min})
			if err != nil {
				t.Fatal(err)
			}
			srv := startServer(t, r.TLSConfig())
			conn, err := tls.Dial("tcp", srv.addr(), &tls.Config{RootCAs: f.roots, MinVersion: tls.VersionTLS10, MaxVersion: tc.client})
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("handshake error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
