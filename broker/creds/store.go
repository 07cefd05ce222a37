package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
	"cuttle/internal/natskv"
)

// Default bucket names.
const (
	DefaultBucket        = "cuttle-credentials"
	DefaultRevokedBucket = "cuttle-revoked-certs"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	// JetStream reaches the NATS server or cluster holding the buckets.
	JetStream jetstream.JetStream
	// Bucket holds credentials; default "cuttle-credentials".
	Bucket string
	// RevokedBucket holds revoked certificates; default "cuttle-revoked-certs".
	RevokedBucket string
	// Replicas is used when OpenStore creates a bucket (0 means 1; use 3 on
	// a cluster). When set, an existing bucket with a different count is
	// updated; when 0, an existing bucket is left as it is, so a CLI run with
	// defaults never shrinks a cluster's replicated bucket.
	Replicas int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Store reads and writes credentials and revocations in NATS KV. It is the
// write side used by the CLI and the API; the broker reads through a Mirror.
// A Store is safe for concurrent use.
type Store struct {
	nc      *nats.Conn
	kv      jetstream.KeyValue
	revoked jetstream.KeyValue
	log     *slog.Logger
	now     func() time.Time
}

// AddRequest describes a credential to create.
type AddRequest struct {
	// Username defaults to EndpointID.
	Username   string
	Role       Role
	EndpointID string
	// Secret is a password the user chose (at least MinPasswordLen
	// characters, hashed with argon2id); empty means generate a token.
	Secret string
}

// maxUpdateAttempts bounds the optimistic read-modify-write loops; a
// conflict means another writer changed the same credential meanwhile.
const maxUpdateAttempts = 5

func (c *StoreConfig) setDefaults() error {
	if c.JetStream == nil {
		return errors.New("creds: StoreConfig.JetStream is nil")
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.RevokedBucket == "" {
		c.RevokedBucket = DefaultRevokedBucket
	}
	if c.Replicas < 0 {
		return fmt.Errorf("creds: %w: Replicas %d", ErrInvalid, c.Replicas)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// OpenStore opens the two buckets, creating them when missing. It fails with
// a message naming the NATS problem when NATS or JetStream is unreachable.
func OpenStore(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Store{
		nc:  cfg.JetStream.Conn(),
		log: cfg.Logger.With("component", "creds"),
		now: func() time.Time { return time.Now().UTC() },
	}
	var err error
	s.kv, err = openBucket(ctx, cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Cuttle broker credentials: role, endpoint ID and salted secret hash per username",
		History:     1, // old hashes are not kept around
		Storage:     jetstream.FileStorage,
	}, cfg.Replicas)
	if err != nil {
		return nil, natsError(s.nc, "opening credentials bucket "+cfg.Bucket, err)
	}
	s.revoked, err = openBucket(ctx, cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      cfg.RevokedBucket,
		Description: "Cuttle broker: revoked client certificates by serial or SHA-256 fingerprint",
		History:     1,
		Storage:     jetstream.FileStorage,
	}, cfg.Replicas)
	if err != nil {
		return nil, natsError(s.nc, "opening revoked-certificates bucket "+cfg.RevokedBucket, err)
	}
	return s, nil
}

// Add creates a credential and returns it with its secret, which exists
// nowhere else: the caller must hand it over now. A username that is taken
// yields ErrExists; the check and the write are one atomic KV operation.
func (s *Store) Add(ctx context.Context, req AddRequest) (Credential, string, error) {
	if req.Username == "" {
		req.Username = req.EndpointID
	}
	role, err := ParseRole(string(req.Role))
	if err != nil {
		return Credential{}, "", err
	}
	// Say what is missing before a derived empty username hides it.
	switch {
	case role.needsEndpointID() && req.EndpointID == "":
		return Credential{}, "", fmt.Errorf("%w: a %s needs an endpoint ID", ErrInvalid, role)
	case req.Username == "":
		return Credential{}, "", fmt.Errorf("%w: an %s needs a username", ErrInvalid, role)
	}
	secret, hash := req.Secret, ""
	if secret == "" {
		if secret, err = generateToken(); err != nil {
			return Credential{}, "", err
		}
		hash, err = hashToken(secret)
	} else {
		if err := validPassword(secret); err != nil {
			return Credential{}, "", err
		}
		hash, err = hashPassword(secret)
	}
	if err != nil {
		return Credential{}, "", err
	}
	now := s.now()
	c := Credential{
		Username:   req.Username,
		Role:       role,
		EndpointID: req.EndpointID,
		Hash:       hash,
		Created:    now,
		Updated:    now,
	}
	if err := c.validate(); err != nil {
		return Credential{}, "", err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return Credential{}, "", fmt.Errorf("encoding credential: %w", err)
	}
	if _, err := s.kv.Create(ctx, EncodeKey(c.Username), data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Credential{}, "", fmt.Errorf("credential %q: %w", c.Username, ErrExists)
		}
		return Credential{}, "", natsError(s.nc, fmt.Sprintf("adding credential %q", c.Username), err)
	}
	s.log.Info("credential added", "username", c.Username, "role", c.Role, "endpoint_id", c.EndpointID, "secret", c.SecretKind())
	return c, secret, nil
}

// Get returns one credential.
func (s *Store) Get(ctx context.Context, username string) (Credential, error) {
	c, _, err := s.get(ctx, username)
	return c, err
}

func (s *Store) get(ctx context.Context, username string) (Credential, uint64, error) {
	if err := validUsername(username); err != nil {
		return Credential{}, 0, err
	}
	e, err := s.kv.Get(ctx, EncodeKey(username))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Credential{}, 0, fmt.Errorf("credential %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return Credential{}, 0, natsError(s.nc, fmt.Sprintf("reading credential %q", username), err)
	}
	c, err := decodeCredential(e.Key(), e.Value())
	if err != nil {
		return Credential{}, 0, err
	}
	return c, e.Revision(), nil
}

// decodeCredential parses a stored value. The username comes from the key,
// which is what lookups go by, so a value cannot claim another identity.
func decodeCredential(key string, value []byte) (Credential, error) {
	username, err := DecodeKey(key)
	if err != nil {
		return Credential{}, err
	}
	var c Credential
	if err := json.Unmarshal(value, &c); err != nil {
		return Credential{}, fmt.Errorf("%w: credential %q: %v", ErrInvalid, username, err)
	}
	c.Username = username
	if err := c.validate(); err != nil {
		return Credential{}, fmt.Errorf("credential %q: %w", username, err)
	}
	return c, nil
}

// List returns every credential, sorted by username. Entries that do not
// decode are logged and skipped.
func (s *Store) List(ctx context.Context) ([]Credential, error) {
	var out []Credential
	err := kvwatch.ReadAll(ctx, s.kv, func(e jetstream.KeyValueEntry) {
		c, err := decodeCredential(e.Key(), e.Value())
		if err != nil {
			s.log.Warn("skipping bad credential entry", "key", e.Key(), "err", err)
			return
		}
		out = append(out, c)
	})
	if err != nil {
		return nil, natsError(s.nc, "listing credentials", err)
	}
	slices.SortFunc(out, func(a, b Credential) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// SetDisabled disables or enables a credential. Disabling keeps the secret,
// so enabling restores access without handing out a new one.
func (s *Store) SetDisabled(ctx context.Context, username string, disabled bool) error {
	_, err := s.update(ctx, username, func(c *Credential) (bool, error) {
		if c.Disabled == disabled {
			return false, nil
		}
		c.Disabled = disabled
		return true, nil
	})
	if err == nil {
		s.log.Info("credential changed", "username", username, "disabled", disabled)
	}
	return err
}

// RotateSecret replaces a credential's secret with a new generated token and
// returns it. The old secret stops working as soon as the broker's mirror
// sees the change.
func (s *Store) RotateSecret(ctx context.Context, username string) (string, error) {
	var token string
	_, err := s.update(ctx, username, func(c *Credential) (bool, error) {
		var err error
		if token, err = generateToken(); err != nil {
			return false, err
		}
		if c.Hash, err = hashToken(token); err != nil {
			return false, err
		}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	s.log.Info("credential secret rotated", "username", username)
	return token, nil
}

// update applies fn to the current credential and writes the result only if
// nobody changed it meanwhile, retrying on conflict.
func (s *Store) update(ctx context.Context, username string, fn func(*Credential) (changed bool, err error)) (Credential, error) {
	for range maxUpdateAttempts {
		c, rev, err := s.get(ctx, username)
		if err != nil {
			return Credential{}, err
		}
		changed, err := fn(&c)
		if err != nil || !changed {
			return c, err
		}
		c.Updated = s.now()
		data, err := json.Marshal(c)
		if err != nil {
			return Credential{}, fmt.Errorf("encoding credential: %w", err)
		}
		_, err = s.kv.Update(ctx, EncodeKey(username), data, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return Credential{}, natsError(s.nc, fmt.Sprintf("updating credential %q", username), err)
		}
		return c, nil
	}
	return Credential{}, fmt.Errorf("updating credential %q: changed concurrently %d times, giving up", username, maxUpdateAttempts)
}

// Remove deletes a credential. The broker disconnects its sessions.
func (s *Store) Remove(ctx context.Context, username string) error {
	if err := validUsername(username); err != nil {
		return err
	}
	key := EncodeKey(username)
	for range maxUpdateAttempts {
		// The value is not decoded, so a corrupt entry can still be removed.
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return fmt.Errorf("credential %q: %w", username, ErrNotFound)
		}
		if err != nil {
			return natsError(s.nc, fmt.Sprintf("removing credential %q", username), err)
		}
		err = s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return natsError(s.nc, fmt.Sprintf("removing credential %q", username), err)
		}
		s.log.Info("credential removed", "username", username)
		return nil
	}
	return fmt.Errorf("removing credential %q: changed concurrently %d times, giving up", username, maxUpdateAttempts)
}

// Shared NATS plumbing (internal/natskv).
var (
	openBucket = natskv.OpenBucket
	natsError  = natskv.Error
)
