package creds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hash formats. Both name their scheme, so Verify picks the algorithm from
// the stored hash and never from the shape of the secret offered:
//
//	hmac-sha256$<salt>$<mac>
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// (the second is the PHC string format); salts and sums are unpadded
// standard base64.
const (
	hmacPrefix  = "hmac-sha256$"
	argonPrefix = "$argon2id$"
)

const (
	// tokenBytes of randomness make a generated token: 256 bits, far beyond
	// brute force, which is what lets its hash be a fast one.
	tokenBytes = 32
	saltBytes  = 16

	// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32

	// Bounds on parameters read back from a stored hash, so that a
	// tampered value cannot make one CONNECT cost gigabytes or minutes.
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 16
	maxArgonThreads   = 16
)

var b64 = base64.RawStdEncoding

// generateToken returns a new random secret, URL-safe so it can sit in
// CSV files, shell variables and MQTT client configs unquoted.
func generateToken() (string, error) {
	buf := make([]byte, tokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

func newSalt() ([]byte, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("generating salt: %w", err)
	}
	return salt, nil
}

// hashToken hashes a generated token with HMAC-SHA256 keyed by a fresh salt.
// A slow hash would add nothing: nobody can enumerate 2^256 candidates, and
// the broker must verify thousands of reconnecting devices per second.
func hashToken(token string) (string, error) {
	salt, err := newSalt()
	if err != nil {
		return "", err
	}
	return hmacPrefix + b64.EncodeToString(salt) + "$" + b64.EncodeToString(tokenMAC(salt, token)), nil
}

func tokenMAC(salt []byte, token string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// hashPassword hashes a secret a person chose with argon2id, which makes
// guessing from a stolen bucket expensive.
func hashPassword(password string) (string, error) {
	salt, err := newSalt()
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argonPrefix, argon2.Version,
		argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyHash reports whether secret matches hash. Malformed or unknown
// hashes match nothing.
func verifyHash(hash, secret string) bool {
	switch {
	case strings.HasPrefix(hash, hmacPrefix):
		return verifyToken(hash[len(hmacPrefix):], secret)
	case strings.HasPrefix(hash, argonPrefix):
		return verifyPassword(hash[len(argonPrefix):], secret)
	}
	return false
}

func verifyToken(rest, secret string) bool {
	saltB64, sumB64, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	salt, err := b64.DecodeString(saltB64)
	if err != nil || len(salt) == 0 {
		return false
	}
	sum, err := b64.DecodeString(sumB64)
	if err != nil || len(sum) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(tokenMAC(salt, secret), sum) == 1
}

func verifyPassword(rest, secret string) bool {
	// rest is "v=19$m=...,t=...,p=...$salt$key".
	parts := strings.Split(rest, "$")
	if len(parts) != 4 || parts[0] != "v="+strconv.Itoa(argon2.Version) {
		return false
	}
	m, t, p, ok := parseArgonParams(parts[1])
	if !ok {
		return false
	}
	salt, err := b64.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return false
	}
	key, err := b64.DecodeString(parts[3])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// parseArgonParams parses "m=<KiB>,t=<passes>,p=<lanes>" within sane bounds.
func parseArgonParams(s string) (m, t uint32, p uint8, ok bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return 0, 0, 0, false
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		k, v, found := strings.Cut(fields[i], "=")
		if !found || k != name {
			return 0, 0, 0, false
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, 0, 0, false
		}
		vals[i] = n
	}
	m, t = uint32(vals[0]), uint32(vals[1])
	if vals[2] < 1 || vals[2] > maxArgonThreads || t < 1 || t > maxArgonTime ||
		m < 8*uint32(vals[2]) || m > maxArgonMemoryKiB {
		return 0, 0, 0, false
	}
	return m, t, uint8(vals[2]), true
}
