package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Where Identity looks in a certificate.
const (
	IdentityCN       = "cn"        // Subject CommonName
	IdentitySAN      = "san"       // first URI SAN, else first DNS SAN
	IdentitySANURI   = "san-uri"   // first URI SAN
	IdentitySANDNS   = "san-dns"   // first DNS SAN
	IdentitySANEmail = "san-email" // first email SAN
)

// USPIDPrefix begins a URI SAN carrying a USP endpoint ID, the convention
// TR-369 sets for endpoint IDs in certificates.
const USPIDPrefix = "urn:bbf:usp:id:"

// ErrNoIdentity means the certificate has nothing in the place Identity was
// told to look.
var ErrNoIdentity = errors.New("certs: certificate carries no identity")

// ErrUnknownIdentitySource means Identity was given an unknown from.
var ErrUnknownIdentitySource = errors.New("certs: unknown identity source")

// CheckIdentitySource reports whether from is a source Identity knows, so a
// configuration can be refused at start rather than at the first CONNECT.
func CheckIdentitySource(from string) error {
	switch from {
	case IdentityCN, IdentitySAN, IdentitySANURI, IdentitySANDNS, IdentitySANEmail:
		return nil
	}
	return fmt.Errorf("%w %q (want cn, san, san-uri, san-dns or san-email)", ErrUnknownIdentitySource, from)
}

// Identity extracts the identity of a verified client certificate. from is
// one of the Identity* constants:
//
//   - "cn": the Subject CommonName.
//   - "san": the URI SAN as for "san-uri" if there is one, else the first
//     DNS SAN.
//   - "san-uri": the first URI SAN starting with urn:bbf:usp:id:, with that
//     prefix stripped to leave the endpoint ID; else the first URI SAN as
//     it is. The USP one wins because a device certificate may also carry
//     other URIs (a SPIFFE ID, say).
//   - "san-dns", "san-email": the first DNS or email SAN.
//
// It returns ErrNoIdentity when that place is empty. Identity does not
// verify cert: call it only on a certificate the TLS handshake verified.
func Identity(cert *x509.Certificate, from string) (string, error) {
	if err := CheckIdentitySource(from); err != nil {
		return "", err
	}
	if cert == nil {
		return "", ErrNoIdentity
	}
	var id string
	switch from {
	case IdentityCN:
		id = cert.Subject.CommonName
	case IdentitySAN:
		id = uriIdentity(cert.URIs)
		if id == "" {
			id = first(cert.DNSNames)
		}
	case IdentitySANURI:
		id = uriIdentity(cert.URIs)
	case IdentitySANDNS:
		id = first(cert.DNSNames)
	case IdentitySANEmail:
		id = first(cert.EmailAddresses)
	}
	if id == "" {
		return "", fmt.Errorf("%w in %s", ErrNoIdentity, from)
	}
	return id, nil
}

// uriIdentity implements "san-uri". The prefix is matched without regard to
// case because URN schemes and namespace IDs are case-insensitive
// (RFC 8141); the endpoint ID after it is kept as written.
func uriIdentity(uris []*url.URL) string {
	for _, u := range uris {
		s := u.String()
		if len(s) >= len(USPIDPrefix) && strings.EqualFold(s[:len(USPIDPrefix)], USPIDPrefix) {
			return s[len(USPIDPrefix):]
		}
	}
	if len(uris) > 0 {
		return uris[0].String()
	}
	return ""
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
