package testpki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"os"
	"testing"
	"time"
)

func TestServerVerifies(t *testing.T) {
	ca := NewCA(t, "root")
	cases := []struct {
		name  string
		hosts []string
		check string
	}{
		{"default ip", nil, "127.0.0.1"},
		{"default ipv6", nil, "::1"},
		{"default dns", nil, "localhost"},
		{"dns", []string{"broker.example"}, "broker.example"},
		{"ip", []string{"10.0.0.1"}, "10.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := ca.Server(t, tc.hosts...)
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			_, err := p.Cert.Verify(x509.VerifyOptions{
				DNSName:   tc.check,
				Roots:     roots,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestClientOpts(t *testing.T) {
	ca := NewCA(t, "root")
	past := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	p := ca.Client(t, ClientOpts{
		CN:        "dev1",
		URIs:      []string{"urn:bbf:usp:id:os::012345-0001"},
		DNS:       []string{"dev1.example"},
		Emails:    []string{"ops@example.com"},
		NotBefore: past,
		NotAfter:  past.Add(time.Hour),
		Serial:    big.NewInt(42),
	})
	c := p.Cert
	if c.Subject.CommonName != "dev1" || c.SerialNumber.Int64() != 42 {
		t.Errorf("subject %q serial %v", c.Subject.CommonName, c.SerialNumber)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "urn:bbf:usp:id:os::012345-0001" {
		t.Errorf("URIs = %v", c.URIs)
	}
	if len(c.DNSNames) != 1 || len(c.EmailAddresses) != 1 {
		t.Errorf("DNS %v email %v", c.DNSNames, c.EmailAddresses)
	}
	if !c.NotBefore.Equal(past) || !c.NotAfter.Equal(past.Add(time.Hour)) {
		t.Errorf("validity %v..%v", c.NotBefore, c.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err == nil {
		t.Fatal("expired client certificate verified")
	}
}

func TestWriteFiles(t *testing.T) {
	ca := NewCA(t, "root")
	dir := t.TempDir()
	first := ca.Server(t)
	certFile, keyFile := WriteFiles(t, dir, first)
	second := ca.Server(t)
	if c2, k2 := WriteFiles(t, dir, second); c2 != certFile || k2 != keyFile {
		t.Fatalf("second write went to %s, %s; want the same files", c2, k2)
	}
	loaded, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Certificate[0], second.Cert.Raw) {
		t.Error("files hold the first pair, want the second")
	}
	caFile := ca.WriteCert(t, dir)
	got, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ca.CertPEM) {
		t.Error("CA file differs from CertPEM")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("dir holds %d files, want 3 (temporary files left behind?)", len(entries))
	}
}

// TestMutualTLS checks the pieces fit together in a real handshake, which is
// what the packages using testpki rely on.
func TestMutualTLS(t *testing.T) {
	ca := NewCA(t, "root")
	srv, cli := ca.Server(t), ca.Client(t, ClientOpts{CN: "dev1"})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srv.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{cli.TLS},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func BenchmarkClient(b *testing.B) {
	ca := NewCA(b, "root")
	for b.Loop() {
		ca.Client(b, ClientOpts{CN: "dev"})
	}
}
