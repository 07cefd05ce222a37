package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"
)

// material is one consistent set of TLS files, swapped as a whole so that
// no handshake sees a new certificate with an old key.
type material struct {
	cert    *tls.Certificate
	pool    *x509.CertPool // nil without a ClientCAFile
	caCount int
	hash    [sha256.Size]byte // of all files' contents, to skip no-op reloads
}

// load reads and checks every file named in r.cfg.
func (r *Reloader) load() (*material, error) {
	certPEM, err := os.ReadFile(r.cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("certs: reading server certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(r.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: reading server key: %w", err)
	}
	var caPEM []byte
	if r.cfg.ClientCAFile != "" {
		if caPEM, err = os.ReadFile(r.cfg.ClientCAFile); err != nil {
			return nil, fmt.Errorf("certs: reading client CA bundle: %w", err)
		}
	}

	chain, err := parseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: server certificate %s: %w", r.cfg.CertFile, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: server key %s: %w", r.cfg.KeyFile, err)
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("certs: server key %s and certificate %s: %w", r.cfg.KeyFile, r.cfg.CertFile, ErrKeyMismatch)
	}
	m := &material{cert: &tls.Certificate{PrivateKey: key, Leaf: leaf}}
	for _, c := range chain {
		m.cert.Certificate = append(m.cert.Certificate, c.Raw)
	}

	if caPEM != nil {
		cas, err := parseCerts(caPEM)
		if err != nil {
			return nil, fmt.Errorf("certs: client CA bundle %s: %w", r.cfg.ClientCAFile, err)
		}
		m.pool = x509.NewCertPool()
		for _, ca := range cas {
			m.pool.AddCert(ca)
		}
		m.caCount = len(cas)
	}

	h := sha256.New()
	for _, b := range [][]byte{certPEM, keyPEM, caPEM} {
		fmt.Fprintf(h, "%d:", len(b)) // length-prefixed so file boundaries count
		h.Write(b)
	}
	h.Sum(m.hash[:0])

	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		r.log.Warn("server certificate is not valid now; clients will refuse it",
			"cert_file", r.cfg.CertFile, "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
	return m, nil
}

// logAttrs describes m for the load and reload log lines.
func (m *material) logAttrs(cfg Config) []any {
	leaf := m.cert.Leaf
	attrs := []any{
		"cert_file", cfg.CertFile,
		"subject", leaf.Subject.String(),
		"dns_names", leaf.DNSNames,
		"serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter,
	}
	if m.pool != nil {
		attrs = append(attrs, "client_ca_file", cfg.ClientCAFile, "client_cas", m.caCount)
	}
	return attrs
}

// parseCerts returns every CERTIFICATE block in data, in order, ignoring
// other blocks so that a combined certificate-and-key file works.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	return certs, nil
}

// parseKey returns the first private key in data, in any of the encodings
// crypto/tls accepts. Other blocks (EC PARAMETERS from openssl, or
// certificates in a combined file) are skipped.
func parseKey(data []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, ErrNoPrivateKey
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, ErrEncryptedKey
		}
		if b.Type != "PRIVATE KEY" && !strings.HasSuffix(b.Type, " PRIVATE KEY") {
			continue
		}
		if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			switch k := k.(type) {
			case *rsa.PrivateKey:
				return k, nil
			case *ecdsa.PrivateKey:
				return k, nil
			case ed25519.PrivateKey:
				return k, nil
			}
			return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, k)
		}
		if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
			return k, nil
		}
		return nil, fmt.Errorf("%w (PEM type %q)", ErrUnsupportedKey, b.Type)
	}
}
