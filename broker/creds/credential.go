// Package creds keeps the identities that may connect to the Cuttle broker:
// device, controller and admin credentials, and the list of revoked client
// certificates. Both live in NATS JetStream key-value buckets, so every
// broker node and the provisioning CLI share them. Store writes them; Mirror
// is the broker's read side, an in-memory copy kept current by KV watches,
// so that CONNECT and ACL checks never wait on I/O.
//
// Secrets are never stored, only salted hashes. Tokens the system generates
// carry 256 bits of entropy and are hashed with HMAC-SHA256, fast enough for
// thousands of devices reconnecting at once; passwords people choose are
// hashed with argon2id.
package creds

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Operations wrap them with details; test with errors.Is.
var (
	// ErrNotFound means no credential (or revocation) has that name.
	ErrNotFound = errors.New("not found")
	// ErrExists means the username is taken.
	ErrExists = errors.New("already exists")
	// ErrInvalid means a request or stored value breaks a rule: an unknown
	// role, a missing or malformed endpoint ID, a short password.
	ErrInvalid = errors.New("invalid")
)

// Role is what a credential may do on the broker.
type Role string

// The roles. A device talks only to its own inbox and to controllers; a
// controller to device inboxes; an admin may do anything.
const (
	RoleDevice     Role = "device"
	RoleController Role = "controller"
	RoleAdmin      Role = "admin"
)

// ParseRole parses a role name, ignoring case and surrounding space.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	switch r {
	case RoleDevice, RoleController, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("%w: role %q (want device, controller or admin)", ErrInvalid, s)
}

// needsEndpointID reports whether the role acts as a USP endpoint, whose
// topics are derived from its endpoint ID.
func (r Role) needsEndpointID() bool {
	return r == RoleDevice || r == RoleController
}

// Limits on what a credential may hold.
const (
	// MaxUsernameLen bounds usernames in bytes (MQTT allows 65535; KV keys
	// and log lines should stay short).
	MaxUsernameLen = 256
	// MinPasswordLen is the shortest password a person may choose, in
	// characters.
	MinPasswordLen = 12
	// MaxPasswordLen bounds chosen passwords in bytes.
	MaxPasswordLen = 1024
)

// Credential is one identity as stored in the credentials bucket, under the
// key EncodeKey(Username).
type Credential struct {
	Username string `json:"username"`
	Role     Role   `json:"role"`
	// EndpointID is the USP endpoint ID; required for devices and
	// controllers.
	EndpointID string `json:"endpoint_id,omitempty"`
	// Hash is the salted hash of the secret, in a self-describing format
	// that names its scheme (see Verify).
	Hash     string    `json:"hash"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Disabled bool      `json:"disabled,omitempty"`
}

// Verify reports whether secret matches the stored hash, in time that does
// not depend on how much of it matches. It checks only the secret: callers
// check Disabled, so that a disabled identity can be told apart from a
// wrong password in logs.
func (c Credential) Verify(secret string) bool {
	return verifyHash(c.Hash, secret)
}

// SecretKind names how the secret was made: "token" for a generated token,
// "password" for a chosen one, "unknown" for an unrecognised hash.
func (c Credential) SecretKind() string {
	switch {
	case strings.HasPrefix(c.Hash, hmacPrefix):
		return "token"
	case strings.HasPrefix(c.Hash, argonPrefix):
		return "password"
	}
	return "unknown"
}

// validate checks the fields that Add and the mirror rely on.
func (c Credential) validate() error {
	if err := validUsername(c.Username); err != nil {
		return err
	}
	switch c.Role {
	case RoleDevice, RoleController, RoleAdmin:
	default:
		return fmt.Errorf("%w: role %q", ErrInvalid, c.Role)
	}
	switch {
	case c.Role.needsEndpointID() && c.EndpointID == "":
		return fmt.Errorf("%w: a %s needs an endpoint ID", ErrInvalid, c.Role)
	case c.EndpointID != "":
		if err := ValidEndpointID(c.EndpointID); err != nil {
			return err
		}
	}
	if c.Hash == "" {
		return fmt.Errorf("%w: no secret hash", ErrInvalid)
	}
	return nil
}

func validUsername(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("%w: empty username", ErrInvalid)
	case len(u) > MaxUsernameLen:
		return fmt.Errorf("%w: username longer than %d bytes", ErrInvalid, MaxUsernameLen)
	case !utf8.ValidString(u):
		return fmt.Errorf("%w: username is not valid UTF-8", ErrInvalid)
	case strings.ContainsRune(u, 0):
		// MQTT forbids U+0000 in UTF-8 strings, so no client could send it.
		return fmt.Errorf("%w: username contains NUL", ErrInvalid)
	}
	return nil
}

// validPassword applies the policy for secrets people choose.
func validPassword(p string) error {
	switch {
	case utf8.RuneCountInString(p) < MinPasswordLen:
		return fmt.Errorf("%w: password shorter than %d characters", ErrInvalid, MinPasswordLen)
	case len(p) > MaxPasswordLen:
		return fmt.Errorf("%w: password longer than %d bytes", ErrInvalid, MaxPasswordLen)
	}
	return nil
}
