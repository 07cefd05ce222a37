package certs

import (
	"crypto/x509"
	"errors"
	"testing"

	"cuttle/internal/testpki"
)

func TestIdentity(t *testing.T) {
	ca := testpki.NewCA(t, "device CA")
	full := ca.Client(t, testpki.ClientOpts{
		CN:     "cn-id",
		URIs:   []string{"spiffe://example/dev", "urn:bbf:usp:id:os::012345-0001"},
		DNS:    []string{"dev.example", "alt.example"},
		Emails: []string{"dev@example.com"},
	}).Cert
	plainURI := ca.Client(t, testpki.ClientOpts{URIs: []string{"spiffe://example/dev"}}).Cert
	upper := ca.Client(t, testpki.ClientOpts{URIs: []string{"URN:BBF:USP:ID:proto::Dev-1"}}).Cert
	dnsOnly := ca.Client(t, testpki.ClientOpts{DNS: []string{"dev.example"}}).Cert
	emptyUSP := ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:"}}).Cert
	bare := ca.Client(t, testpki.ClientOpts{}).Cert

	cases := []struct {
		name string
		cert *x509.Certificate
		from string
		want string
		err  error
	}{
		{"cn", full, IdentityCN, "cn-id", nil},
		{"san prefers the USP URI", full, IdentitySAN, "os::012345-0001", nil},
		{"san-uri prefers the USP URI", full, IdentitySANURI, "os::012345-0001", nil},
		{"san-uri other scheme", plainURI, IdentitySANURI, "spiffe://example/dev", nil},
		{"san prefix in upper case", upper, IdentitySAN, "proto::Dev-1", nil},
		{"san falls back to DNS", dnsOnly, IdentitySAN, "dev.example", nil},
		{"san-dns", full, IdentitySANDNS, "dev.example", nil},
		{"san-email", full, IdentitySANEmail, "dev@example.com", nil},
		{"cn missing", dnsOnly, IdentityCN, "", ErrNoIdentity},
		{"san missing", bare, IdentitySAN, "", ErrNoIdentity},
		{"san-uri missing", dnsOnly, IdentitySANURI, "", ErrNoIdentity},
		{"san-dns missing", plainURI, IdentitySANDNS, "", ErrNoIdentity},
		{"san-email missing", dnsOnly, IdentitySANEmail, "", ErrNoIdentity},
		{"USP prefix with no ID", emptyUSP, IdentitySAN, "", ErrNoIdentity},
		{"nil certificate", nil, IdentityCN, "", ErrNoIdentity},
		{"unknown source", full, "serial", "", ErrUnknownIdentitySource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Identity(tc.cert, tc.from)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Identity = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCheckIdentitySource(t *testing.T) {
	for _, from := range []string{"cn", "san", "san-uri", "san-dns", "san-email"} {
		if err := CheckIdentitySource(from); err != nil {
			t.Errorf("CheckIdentitySource(%q) = %v", from, err)
		}
	}
	for _, from := range []string{"", "CN", "uri", "serial"} {
		if err := CheckIdentitySource(from); !errors.Is(err, ErrUnknownIdentitySource) {
			t.Errorf("CheckIdentitySource(%q) = %v, want ErrUnknownIdentitySource", from, err)
		}
	}
}
