package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
)

// RevokeCert adds a certificate to the revocation list; spec is
// "serial:<hex>" or "sha256:<hex>" (see ParseCertSpec). Revoking again
// replaces the reason.
func (s *Store) RevokeCert(ctx context.Context, spec, reason string) error {
	norm, err := ParseCertSpec(spec)
	if err != nil {
		return err
	}
	data, err := json.Marshal(Revocation{Spec: norm, Reason: reason, Created: s.now()})
	if err != nil {
		return fmt.Errorf("encoding revocation: %w", err)
	}
	if _, err := s.revoked.Put(ctx, EncodeKey(norm), data); err != nil {
		return natsError(s.nc, "revoking certificate "+norm, err)
	}
	s.log.Info("certificate revoked", "spec", norm, "reason", reason)
	return nil
}

// UnrevokeCert removes a certificate from the revocation list.
func (s *Store) UnrevokeCert(ctx context.Context, spec string) error {
	norm, err := ParseCertSpec(spec)
	if err != nil {
		return err
	}
	key := EncodeKey(norm)
	if _, err := s.revoked.Get(ctx, key); err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return fmt.Errorf("revocation %s: %w", norm, ErrNotFound)
		}
		return natsError(s.nc, "reading revocation "+norm, err)
	}
	if err := s.revoked.Delete(ctx, key); err != nil {
		return natsError(s.nc, "unrevoking certificate "+norm, err)
	}
	s.log.Info("certificate unrevoked", "spec", norm)
	return nil
}

// ListRevoked returns the revocation list sorted by spec.
func (s *Store) ListRevoked(ctx context.Context) ([]Revocation, error) {
	var out []Revocation
	err := kvwatch.ReadAll(ctx, s.revoked, func(e jetstream.KeyValueEntry) {
		r, err := decodeRevocation(e.Key(), e.Value())
		if err != nil {
			s.log.Warn("skipping bad revocation entry", "key", e.Key(), "err", err)
			return
		}
		out = append(out, r)
	})
	if err != nil {
		return nil, natsError(s.nc, "listing revoked certificates", err)
	}
	slices.SortFunc(out, func(a, b Revocation) int { return strings.Compare(a.Spec, b.Spec) })
	return out, nil
}

// decodeRevocation parses a stored revocation. Like credentials, the key is
// authoritative: a revocation is in force for the spec its key names even
// if the value is damaged, because failing open would re-admit a revoked
// certificate.
func decodeRevocation(key string, value []byte) (Revocation, error) {
	spec, err := DecodeKey(key)
	if err != nil {
		return Revocation{}, err
	}
	norm, err := ParseCertSpec(spec)
	if err != nil || norm != spec {
		return Revocation{}, fmt.Errorf("%w: revocation key %q is not a normalised spec", ErrInvalid, key)
	}
	var r Revocation
	if err := json.Unmarshal(value, &r); err != nil {
		return Revocation{Spec: spec, Reason: "(unreadable entry)"}, nil
	}
	r.Spec = spec
	return r, nil
}
