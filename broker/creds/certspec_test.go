package creds

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// newCert makes a self-signed certificate with the given serial.
func newCert(t testing.TB, serial *big.Int) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "os::012345-0001"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertSpecs(t *testing.T) {
	cert := newCert(t, big.NewInt(0xABCDEF))
	serial, fp := CertSpecs(cert)
	if serial != "serial:abcdef" {
		t.Errorf("serial = %q, want serial:abcdef", serial)
	}
	sum := sha256.Sum256(cert.Raw)
	if want := "sha256:" + hex.EncodeToString(sum[:]); fp != want {
		t.Errorf("fingerprint = %q, want %q", fp, want)
	}
}

func TestParseCertSpec(t *testing.T) {
	fp := strings.Repeat("Ab", 32)
	fpColons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	cases := []struct{ in, want string }{
		{"serial:ABCDEF", "serial:abcdef"},
		{"serial:ab:cd:ef", "serial:abcdef"},
		{"serial:00:AB:CD:EF", "serial:abcdef"}, // DER sign byte
		{"serial:abc", "serial:0abc"},
		{"serial:0", "serial:00"},
		{"SERIAL:01", "serial:01"},
		{" serial:01 ", "serial:01"},
		{"sha256:" + fp, "sha256:" + strings.ToLower(fp)},
		{"sha256:" + fpColons, "sha256:" + strings.Repeat("ab", 32)},
	}
	for _, c := range cases {
		got, err := ParseCertSpec(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseCertSpec(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"", "abcdef", "serial:", "serial:xyz", "md5:abcd", "sha256:abcd",
		"sha256:" + fp + "00", "serial:" + strings.Repeat("ff", 30),
	} {
		if got, err := ParseCertSpec(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCertSpec(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

func FuzzParseCertSpec(f *testing.F) {
	for _, s := range []string{"serial:ab:cd", "sha256:" + strings.Repeat("0", 64), "serial:0", "x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		norm, err := ParseCertSpec(spec)
		if err != nil {
			return
		}
		again, err := ParseCertSpec(norm)
		if err != nil || again != norm {
			t.Fatalf("normal form %q of %q is not stable: %q, %v", norm, spec, again, err)
		}
		if !validKVKey(EncodeKey(norm)) {
			t.Fatalf("spec %q does not make a KV key", norm)
		}
	})
}
