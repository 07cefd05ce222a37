package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cuttle/internal/testpki"
	"cuttle/internal/testutil"
)

func TestReloadKeepsConnections(t *testing.T) {
	testutil.CheckGoroutines(t, 3*time.Second)
	f := newFixture(t)
	r, err := New(Config{CertFile: f.certFile, KeyFile: f.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, r.TLSConfig())

	old := mustDial(t, srv.addr(), f.roots, nil)
	if old.serverSerial().Cmp(f.a.Cert.SerialNumber) != 0 {
		t.Fatal("first connection did not see certificate A")
	}

	b := f.ca.Server(t)
	testpki.WriteFiles(t, f.dir, b)
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if n := r.Reloads(); n != 1 {
		t.Errorf("Reloads = %d, want 1", n)
	}
	if cert, _ := r.Current(); cert.Leaf.SerialNumber.Cmp(b.Cert.SerialNumber) != 0 {
		t.Error("Current is not certificate B")
	}

	fresh := mustDial(t, srv.addr(), f.roots, nil)
	if fresh.serverSerial().Cmp(b.Cert.SerialNumber) != 0 {
		t.Error("new connection after reload did not see certificate B")
	}
	old.echo(t, "still here")
	fresh.echo(t, "hello")
}

func TestRunReloads(t *testing.T) {
	testutil.CheckGoroutines(t, 3*time.Second)
	f := newFixture(t)
	log, logs := newLogger()
	r, err := New(Config{CertFile: f.certFile, KeyFile: f.keyFile, PollInterval: 10 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}()
	srv := startServer(t, r.TLSConfig())
	old := mustDial(t, srv.addr(), f.roots, nil)

	// A renewal, written the way certbot does it.
	b := f.ca.Server(t)
	testpki.WriteFiles(t, f.dir, b)
	testutil.Eventually(t, 5*time.Second, "the reload", func() bool { return r.Reloads() == 1 })
	if c := mustDial(t, srv.addr(), f.roots, nil); c.serverSerial().Cmp(b.Cert.SerialNumber) != 0 {
		t.Error("new connection after reload did not see certificate B")
	}
	old.echo(t, "still here")

	// The same content rewritten is noticed but not reloaded.
	testpki.WriteFiles(t, f.dir, b)
	testutil.Eventually(t, 5*time.Second, "the unchanged-content check", func() bool { return strings.Contains(logs.String(), "unchanged content") })
	if n := r.Reloads(); n != 1 {
		t.Errorf("Reloads after rewrite = %d, want 1", n)
	}

	// A broken certificate is logged and the old one kept.
	testpki.WriteAtomic(t, f.certFile, []byte("not a certificate"))
	testutil.Eventually(t, 5*time.Second, "the failed reload", func() bool { return strings.Contains(logs.String(), "level=ERROR") })
	if n := r.Reloads(); n != 1 {
		t.Errorf("Reloads after broken write = %d, want 1", n)
	}
	if c := mustDial(t, srv.addr(), f.roots, nil); c.serverSerial().Cmp(b.Cert.SerialNumber) != 0 {
		t.Error("broken file replaced certificate B")
	}

	// Fixing the files recovers without a restart.
	c := f.ca.Server(t)
	testpki.WriteFiles(t, f.dir, c)
	testutil.Eventually(t, 5*time.Second, "the recovery", func() bool { return r.Reloads() == 2 })
}

func TestReloadRejectsBrokenFiles(t *testing.T) {
	cases := []struct {
		name       string
		breakFiles func(t *testing.T, f *fixture)
		want       error
	}{
		{"cert not PEM", func(t *testing.T, f *fixture) {
			testpki.WriteAtomic(t, f.certFile, []byte("garbage"))
		}, ErrNoCertificate},
		{"cert truncated", func(t *testing.T, f *fixture) {
			b := f.ca.Server(t)
			testpki.WriteAtomic(t, f.certFile, b.CertPEM[:len(b.CertPEM)/2])
		}, ErrNoCertificate},
		{"key not PEM", func(t *testing.T, f *fixture) {
			testpki.WriteAtomic(t, f.keyFile, []byte("garbage"))
		}, ErrNoPrivateKey},
		{"key of another certificate", func(t *testing.T, f *fixture) {
			// A renewal that wrote the new certificate but kept the old key.
			testpki.WriteAtomic(t, f.certFile, f.ca.Server(t).CertPEM)
		}, ErrKeyMismatch},
		{"key missing", func(t *testing.T, f *fixture) {
			if err := os.Remove(f.keyFile); err != nil {
				t.Fatal(err)
			}
		}, fs.ErrNotExist},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			r, err := New(Config{CertFile: f.certFile, KeyFile: f.keyFile})
			if err != nil {
				t.Fatal(err)
			}
			srv := startServer(t, r.TLSConfig())
			tc.breakFiles(t, f)
			err = r.Reload()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Reload = %v, want %v", err, tc.want)
			}
			if r.Reloads() != 0 {
				t.Error("a failed reload was counted")
			}
			if c := mustDial(t, srv.addr(), f.roots, nil); c.serverSerial().Cmp(f.a.Cert.SerialNumber) != 0 {
				t.Error("broken files replaced certificate A")
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	f := newFixture(t)
	caFile := f.ca.WriteCert(t, f.dir)
	missing := filepath.Join(f.dir, "missing.pem")
	junk := filepath.Join(f.dir, "junk.pem")
	testpki.WriteAtomic(t, junk, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"))

	cases := []struct {
		name string
		cfg  Config
		want error
		text string // must appear in the message: the field or file at fault
	}{
		{"no cert file", Config{KeyFile: f.keyFile}, ErrInvalidConfig, "CertFile"},
		{"no key file", Config{CertFile: f.certFile}, ErrInvalidConfig, "KeyFile"},
		{"bad client auth", Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: "optional"}, ErrInvalidConfig, "ClientAuth"},
		{"require without CA", Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: ClientAuthRequire}, ErrInvalidConfig, "ClientCAFile"},
		{"none with CA", Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientAuth: ClientAuthNone, ClientCAFile: caFile}, ErrInvalidConfig, "ClientCAFile"},
		{"TLS 1.1", Config{CertFile: f.certFile, KeyFile: f.keyFile, MinVersion: 0x0302}, ErrInvalidConfig, "MinVersion"},
		{"negative poll", Config{CertFile: f.certFile, KeyFile: f.keyFile, PollInterval: -1}, ErrInvalidConfig, "PollInterval"},
		{"cert missing", Config{CertFile: missing, KeyFile: f.keyFile}, fs.ErrNotExist, missing},
		{"key missing", Config{CertFile: f.certFile, KeyFile: missing}, fs.ErrNotExist, missing},
		{"key is a cert", Config{CertFile: f.certFile, KeyFile: f.certFile}, ErrNoPrivateKey, f.certFile},
		{"cert is a key", Config{CertFile: f.keyFile, KeyFile: f.keyFile}, ErrNoCertificate, f.keyFile},
		{"CA missing", Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: missing}, fs.ErrNotExist, missing},
		{"CA not PEM", Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: f.keyFile}, ErrNoCertificate, f.keyFile},
		{"CA malformed", Config{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: junk}, nil, junk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("New = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("New = %v, want it to name %s", err, tc.text)
			}
		})
	}
}

func TestKeyFormats(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		key  func() []byte
	}{
		{"PKCS #8", func() []byte { return f.a.KeyPEM }},
		{"SEC 1 after EC PARAMETERS, as openssl writes it", func() []byte { return sec1PEM(t, f.a) }},
		{"combined with the certificate", func() []byte { return append(append([]byte{}, f.a.CertPEM...), f.a.KeyPEM...) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keyFile := filepath.Join(t.TempDir(), "key.pem")
			testpki.WriteAtomic(t, keyFile, tc.key())
			if _, err := New(Config{CertFile: f.certFile, KeyFile: keyFile}); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestExpiredServerCertWarns(t *testing.T) {
	f := newFixture(t)
	past := time.Now().Add(-48 * time.Hour)
	expired := f.ca.Issue(t, &x509.Certificate{NotBefore: past, NotAfter: past.Add(time.Hour)})
	certFile, keyFile := testpki.WriteFiles(t, t.TempDir(), expired)
	log, logs := newLogger()
	if _, err := New(Config{CertFile: certFile, KeyFile: keyFile, Logger: log}); err != nil {
		t.Fatalf("New: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no warning for an expired certificate; logs:\n%s", logs)
	}
}

// sec1PEM re-encodes p's key the way `openssl ecparam -genkey` writes one.
func sec1PEM(t *testing.T, p testpki.Pair) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(p.TLS.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	prime256v1 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	out := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: prime256v1})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
}
