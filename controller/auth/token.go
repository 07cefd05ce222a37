package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Token format: "cut_" + 16-character ID + "_" + 52-character secret, all
// lower-case base32, 73 characters. The prefix makes leaked tokens easy to
// spot (secret scanners, logs); the ID lets Authenticate find the one hash
// to check without scanning; letters, digits and '_' make the whole token
// one word to double-click and safe unquoted in shells and headers.
const (
	TokenPrefix = "cut_"
	idBytes     = 10 // 80 bits: collisions are not a concern
	secretBytes = 32 // 256 bits, which is what lets the hash be a fast one
	idLen       = 16 // base32 of idBytes
	secretLen   = 52 // base32 of secretBytes
	tokenLen    = len(TokenPrefix) + idLen + 1 + secretLen
	saltBytes   = 16
)

// Limits on what a token record may hold.
const (
	MaxNameLen      = 128
	MaxCreatedByLen = 256
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// hashPrefix names the hash scheme, as broker/creds does, so a future
// scheme can be told apart: hmac-sha256$<salt>$<mac>, unpadded base64.
const hashPrefix = "hmac-sha256$"

var b64 = base64.RawStdEncoding

// Token is an API token as callers see it: everything but the secret and
// its hash.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
	// LastUsed is when the token last authenticated a request, to within
	// a minute: it is written at most once a minute per token.
	LastUsed time.Time `json:"last_used,omitzero"`
	// Expires is when the token stops working; zero means never.
	Expires   time.Time `json:"expires,omitzero"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Active reports whether t can authenticate at time now.
func (t Token) Active(now time.Time) bool {
	return !t.Revoked && (t.Expires.IsZero() || now.Before(t.Expires))
}

// record is a token as stored in the bucket, under the key ID.
type record struct {
	Token
	Hash string `json:"hash"`
}

// entry is a record ready for Authenticate: the hash already decoded.
type entry struct {
	rec  record
	salt []byte
	mac  []byte
	rev  uint64
}

func (r record) entry(rev uint64) (entry, error) {
	rest, ok := strings.CutPrefix(r.Hash, hashPrefix)
	if !ok {
		return entry{}, fmt.Errorf("%w: token %s: unknown hash scheme", ErrInvalid, r.ID)
	}
	saltB64, macB64, ok := strings.Cut(rest, "$")
	if !ok {
		return entry{}, fmt.Errorf("%w: token %s: malformed hash", ErrInvalid, r.ID)
	}
	salt, err := b64.DecodeString(saltB64)
	if err != nil || len(salt) == 0 {
		return entry{}, fmt.Errorf("%w: token %s: malformed salt", ErrInvalid, r.ID)
	}
	mac, err := b64.DecodeString(macB64)
	if err != nil || len(mac) != sha256.Size {
		return entry{}, fmt.Errorf("%w: token %s: malformed hash", ErrInvalid, r.ID)
	}
	return entry{rec: r, salt: salt, mac: mac, rev: rev}, nil
}

// validate checks what Authenticate and List rely on.
func (r record) validate() error {
	if !validID(r.ID) {
		return fmt.Errorf("%w: token ID %q", ErrInvalid, r.ID)
	}
	if _, ok := permissions[r.Role]; !ok {
		return fmt.Errorf("%w: token %s: role %q", ErrInvalid, r.ID, r.Role)
	}
	if err := validName(r.Name); err != nil {
		return err
	}
	_, err := r.entry(0)
	return err
}

func validName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty token name", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: token name longer than %d bytes", ErrInvalid, MaxNameLen)
	case !printable(name):
		return fmt.Errorf("%w: token name must be printable UTF-8", ErrInvalid)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters,
// which would garble `cuttle token ls` and log lines.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// newSecret returns a new token ID and the full token string.
func newSecret() (id, token string, err error) {
	buf := make([]byte, idBytes+secretBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", "", fmt.Errorf("generating token: %w", err)
	}
	id = b32.EncodeToString(buf[:idBytes])
	return id, TokenPrefix + id + "_" + b32.EncodeToString(buf[idBytes:]), nil
}

// hash returns the stored form of token's hash under a fresh salt.
func hash(token string) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generating salt: %w", err)
	}
	return hashPrefix + b64.EncodeToString(salt) + "$" + b64.EncodeToString(tokenMAC(salt, token)), nil
}

// tokenMAC is HMAC-SHA256 of the whole token keyed by the salt. A slow hash
// would add nothing against 256 random bits, and would cost every request.
func tokenMAC(salt []byte, token string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(token))
	return m.Sum(nil)
}

// verify reports whether token matches e, in time that does not depend on
// how much of it matches.
func (e entry) verify(token string) bool {
	return subtle.ConstantTimeCompare(tokenMAC(e.salt, token), e.mac) == 1
}

// parseToken returns the ID of a well-formed token. Its checks depend only
// on the token's length and shape, never on stored data, so they reveal
// nothing an attacker does not already know.
func parseToken(token string) (id string, ok bool) {
	if len(token) != tokenLen || !strings.HasPrefix(token, TokenPrefix) {
		return "", false
	}
	id = token[len(TokenPrefix) : len(TokenPrefix)+idLen]
	if token[len(TokenPrefix)+idLen] != '_' || !isBase32(id) || !isBase32(token[len(token)-secretLen:]) {
		return "", false
	}
	return id, true
}

func validID(id string) bool {
	return len(id) == idLen && isBase32(id)
}

func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
