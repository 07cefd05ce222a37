// Package testpki makes throwaway certificate authorities and certificates
// for tests: server certificates for TLS listeners, client certificates for
// mTLS identity and attack cases (another CA, expired, no identity), and the
// PEM files a component under test loads from disk.
//
// Keys are ECDSA P-256 so that a test can make dozens of certificates in a
// few milliseconds. Every certificate is valid from an hour ago to a day from
// now unless the caller says otherwise, which keeps tests independent of
// small clock differences while still letting them build expired or
// not-yet-valid certificates on purpose.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// File names used by WriteFiles and WriteCert. They are fixed so that writing
// a second pair into the same directory replaces the first, which is how a
// test simulates a certificate renewal.
const (
	CertFileName = "cert.pem"
	KeyFileName  = "key.pem"
	CAFileName   = "ca.pem"
)

// CA is a certificate authority that signs server and client certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// Pair is a certificate and its private key, in parsed, PEM and tls forms.
type Pair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	TLS     tls.Certificate
}

// ClientOpts describes a client certificate. Zero NotBefore and NotAfter mean
// an hour ago and a day from now; a nil Serial means a random one.
type ClientOpts struct {
	CN        string
	URIs      []string
	DNS       []string
	Emails    []string
	NotBefore time.Time
	NotAfter  time.Time
	Serial    *big.Int
}

// NewCA returns a new self-signed root CA whose subject CommonName is name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	notBefore, notAfter := defaultValidity()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Cuttle tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("testpki: creating CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parsing CA %q: %v", name, err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}
}

// Server returns a server certificate for hosts, each an IP address (put in
// an IP SAN) or a DNS name. With no hosts it is valid for 127.0.0.1, ::1 and
// localhost, which is what a test server on 127.0.0.1:0 needs. The subject
// CommonName is the first host.
func (ca *CA) Server(t testing.TB, hosts ...string) Pair {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.Issue(t, tmpl)
}

// Client returns a client certificate described by o.
func (ca *CA) Client(t testing.TB, o ClientOpts) Pair {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:   o.Serial,
		Subject:        pkix.Name{CommonName: o.CN},
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:       o.DNS,
		EmailAddresses: o.Emails,
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("testpki: client URI SAN %q: %v", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return ca.Issue(t, tmpl)
}

// Issue signs tmpl with a fresh key, for certificates Server and Client
// cannot describe (an expired server certificate, unusual key usages). A nil
// SerialNumber becomes a random one and zero NotBefore and NotAfter become an
// hour ago and a day from now. tmpl is modified.
func (ca *CA) Issue(t testing.TB, tmpl *x509.Certificate) Pair {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = randomSerial(t)
	}
	notBefore, notAfter := defaultValidity()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = notBefore
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = notAfter
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("testpki: signing %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parsing %q: %v", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: encoding key: %v", err)
	}
	return Pair{
		Cert:    cert,
		CertPEM: pemBlock("CERTIFICATE", der),
		KeyPEM:  pemBlock("PRIVATE KEY", keyDER),
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}
}

// WriteFiles writes p to dir as cert.pem and key.pem and returns their
// paths. Each file is written to a temporary name and renamed into place, as
// certbot and most renewal tools do, so a reader never sees half a file.
func WriteFiles(t testing.TB, dir string, p Pair) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, CertFileName)
	keyFile = filepath.Join(dir, KeyFileName)
	WriteAtomic(t, certFile, p.CertPEM)
	WriteAtomic(t, keyFile, p.KeyPEM)
	return certFile, keyFile
}

// WriteCert writes the CA certificate to dir as ca.pem, atomically like
// WriteFiles, and returns its path.
func (ca *CA) WriteCert(t testing.TB, dir string) string {
	t.Helper()
	name := filepath.Join(dir, CAFileName)
	WriteAtomic(t, name, ca.CertPEM)
	return name
}

// Bundle returns the concatenated PEM certificates of cas, the form of a CA
// bundle file that trusts several authorities at once.
func Bundle(cas ...*CA) []byte {
	var b []byte
	for _, ca := range cas {
		b = append(b, ca.CertPEM...)
	}
	return b
}

// WriteAtomic replaces name with data by writing a temporary file in the same
// directory and renaming it over name.
func WriteAtomic(t testing.TB, name string, data []byte) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		t.Fatalf("testpki: %v", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		t.Fatalf("testpki: writing %s: %v", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("testpki: closing %s: %v", f.Name(), err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		t.Fatalf("testpki: %v", err)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: generating key: %v", err)
	}
	return key
}

// randomSerial returns a positive 128-bit serial, the size RFC 5280 and the
// CA/Browser Forum expect, so tests that key revocation lists by serial never
// see two certificates collide.
func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatalf("testpki: serial: %v", err)
	}
	return n.Add(n, big.NewInt(1))
}

// defaultValidity is truncated to the second because certificates store
// times at that precision; tests comparing NotAfter then see what they set.
func defaultValidity() (notBefore, notAfter time.Time) {
	now := time.Now().Truncate(time.Second)
	return now.Add(-time.Hour), now.Add(24 * time.Hour)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
