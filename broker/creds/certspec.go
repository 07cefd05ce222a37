package creds

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Revocation is one entry of the revoked-certificates bucket. MQTT has no
// way to take back a client certificate before it expires, so the broker
// refuses, and disconnects, every certificate listed here.
type Revocation struct {
	// Spec is "serial:<hex>" or "sha256:<hex>", normalised to lower case
	// without separators (see ParseCertSpec).
	Spec    string    `json:"spec"`
	Reason  string    `json:"reason,omitempty"`
	Created time.Time `json:"created"`
}

// Spec prefixes.
const (
	serialPrefix = "serial:"
	sha256Prefix = "sha256:"
)

// CertSpecs returns the two specs that identify cert in the revocation list:
// its serial number and the SHA-256 fingerprint of its DER encoding.
func CertSpecs(cert *x509.Certificate) (serial, fingerprint string) {
	sum := sha256.Sum256(cert.Raw)
	return serialPrefix + serialHex(cert.SerialNumber), sha256Prefix + hex.EncodeToString(sum[:])
}

// serialHex writes a serial as the lower-case hex of its magnitude's bytes,
// so "00:AB" (as OpenSSL prints a DER INTEGER) and "ab" are the same serial.
// Zero, which has no bytes, is written "00".
func serialHex(n *big.Int) string {
	if n == nil || n.Sign() == 0 {
		return "00"
	}
	return hex.EncodeToString(n.Bytes())
}

// ParseCertSpec normalises a revocation spec: "serial:<hex>" or
// "sha256:<hex>", hex in either case, optionally with ':' between bytes as
// tools print them. A fingerprint must be 32 bytes.
func ParseCertSpec(spec string) (string, error) {
	kind, value, ok := strings.Cut(strings.TrimSpace(spec), ":")
	if !ok {
		return "", fmt.Errorf("%w: certificate spec %q: want serial:<hex> or sha256:<hex>", ErrInvalid, spec)
	}
	digits := strings.ReplaceAll(value, ":", "")
	if digits == "" {
		return "", fmt.Errorf("%w: certificate spec %q: no hex digits", ErrInvalid, spec)
	}
	for i := 0; i < len(digits); i++ {
		if !isHex(digits[i]) {
			return "", fmt.Errorf("%w: certificate spec %q: %q is not a hex digit", ErrInvalid, spec, digits[i])
		}
	}
	switch strings.ToLower(kind) {
	case "serial":
		if len(digits) > 2*20+2 {
			// RFC 5280 caps serials at 20 octets; allow a sign byte and slack.
			return "", fmt.Errorf("%w: certificate spec %q: serial longer than 21 bytes", ErrInvalid, spec)
		}
		n, _ := new(big.Int).SetString(digits, 16)
		return serialPrefix + serialHex(n), nil
	case "sha256":
		if len(digits) != 2*sha256.Size {
			return "", fmt.Errorf("%w: certificate spec %q: a SHA-256 fingerprint has %d hex digits", ErrInvalid, spec, 2*sha256.Size)
		}
		return sha256Prefix + strings.ToLower(digits), nil
	}
	return "", fmt.Errorf("%w: certificate spec %q: want serial:<hex> or sha256:<hex>", ErrInvalid, spec)
}
