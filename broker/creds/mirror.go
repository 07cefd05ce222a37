package creds

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
)

// DefaultLoadTimeout bounds NewMirror's initial load and each reload.
const DefaultLoadTimeout = 5 * time.Second

// MirrorConfig configures a Mirror.
type MirrorConfig struct {
	// JetStream reaches the buckets. Its connection should reconnect
	// forever: the mirror rides out outages on it.
	JetStream jetstream.JetStream
	// Bucket and RevokedBucket default to DefaultBucket and
	// DefaultRevokedBucket. Both must exist.
	Bucket, RevokedBucket string
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// LoadTimeout bounds the initial load and each reload; default 5s.
	LoadTimeout time.Duration
}

// ChangeKind says what a Change is about.
type ChangeKind int

// The kinds of change a Mirror reports.
const (
	// CredentialUpdated: added, or changed (disabled, enabled, rotated).
	CredentialUpdated ChangeKind = iota
	// CredentialRemoved: deleted, or replaced by a value that does not
	// decode, which must lock its owner out rather than keep the old rights.
	CredentialRemoved
	// CertRevoked: a certificate spec was added to the revocation list.
	CertRevoked
	// CertUnrevoked: a certificate spec was taken off the list.
	CertUnrevoked
)

func (k ChangeKind) String() string {
	switch k {
	case CredentialUpdated:
		return "credential-updated"
	case CredentialRemoved:
		return "credential-removed"
	case CertRevoked:
		return "cert-revoked"
	case CertUnrevoked:
		return "cert-unrevoked"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one update seen by a Mirror. For credentials, Old and New are
// the values before and after (zero when absent); for certificates,
// CertSpec is the normalised spec.
type Change struct {
	Kind     ChangeKind
	Username string
	Old, New Credential
	CertSpec string
}

// Mirror is an in-memory copy of the credentials and revocation buckets,
// kept current by KV watches. Its reads take a read lock and do one map
// lookup: the broker calls them on every CONNECT and ACL check. When NATS is
// unreachable it keeps answering from the last state it saw, and catches up
// when NATS returns.
type Mirror struct {
	cfg    MirrorConfig
	log    *slog.Logger
	nc     *nats.Conn
	credKV jetstream.KeyValue
	revKV  jetstream.KeyValue

	mu          sync.RWMutex // guards creds, controllers and revoked
	creds       map[string]credEntry
	controllers map[string]int // enabled controller credentials per endpoint ID
	revoked     map[string]revEntry

	subMu   sync.Mutex // guards subs and nextSub
	subs    []subscriber
	nextSub uint64

	healthy atomic.Bool
	running atomic.Bool

	// initial holds the watches NewMirror loaded through, until Run takes
	// them over. status receives the connection's state changes from
	// NewMirror on, so none between NewMirror and Run is missed.
	initMu  sync.Mutex // guards initial and status
	initial *kvwatch.Watch
	status  chan nats.Status
}

type credEntry struct {
	cred Credential
	rev  uint64
}

type revEntry struct {
	r   Revocation
	rev uint64
}

type subscriber struct {
	id uint64
	fn func(Change)
}

func (c *MirrorConfig) setDefaults() error {
	if c.JetStream == nil {
		return errors.New("creds: MirrorConfig.JetStream is nil")
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.RevokedBucket == "" {
		c.RevokedBucket = DefaultRevokedBucket
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
	return nil
}

// NewMirror loads both buckets and returns a Mirror holding their current
// contents. It fails within LoadTimeout, naming the NATS problem, when NATS
// is unreachable or a bucket is missing: a broker that cannot load its
// credentials must not start. Call Run to keep the mirror current; Run also
// releases the watches and the status listener NewMirror opened.
func NewMirror(ctx context.Context, cfg MirrorConfig) (*Mirror, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Mirror{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "creds-mirror"),
		nc:          cfg.JetStream.Conn(),
		creds:       map[string]credEntry{},
		controllers: map[string]int{},
		revoked:     map[string]revEntry{},
	}
	if m.nc.IsClosed() {
		return nil, fmt.Errorf("loading credentials: %w", nats.ErrConnectionClosed)
	}
	lctx, cancel := context.WithTimeout(ctx, cfg.LoadTimeout)
	defer cancel()
	var err error
	if m.credKV, err = m.bucket(lctx, cfg.Bucket); err != nil {
		return nil, err
	}
	if m.revKV, err = m.bucket(lctx, cfg.RevokedBucket); err != nil {
		return nil, err
	}
	m.status = m.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	ws, snap, err := m.watch(ctx)
	if err != nil {
		m.nc.RemoveStatusListener(m.status)
		return nil, err
	}
	m.replace(snap)
	m.initial = ws
	m.healthy.Store(true)
	m.log.Info("credentials loaded", "credentials", len(snap.creds), "revoked_certs", len(snap.revoked))
	return m, nil
}

func (m *Mirror) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	kv, err := m.cfg.JetStream.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("loading credentials: KV bucket %q does not exist (`cuttle creds` creates it): %w", name, err)
	}
	if err != nil {
		return nil, natsError(m.nc, fmt.Sprintf("loading credentials: opening KV bucket %q", name), err)
	}
	return kv, nil
}

// Lookup returns the credential for username.
func (m *Mirror) Lookup(username string) (Credential, bool) {
	m.mu.RLock()
	e, ok := m.creds[username]
	m.mu.RUnlock()
	return e.cred, ok
}

// HasController reports whether an enabled controller credential has this
// endpoint ID: devices may publish only to controllers that exist.
func (m *Mirror) HasController(endpointID string) bool {
	m.mu.RLock()
	n := m.controllers[endpointID]
	m.mu.RUnlock()
	return n > 0
}

// IsRevoked reports whether cert's serial or fingerprint is revoked.
func (m *Mirror) IsRevoked(cert *x509.Certificate) bool {
	m.mu.RLock()
	empty := len(m.revoked) == 0
	m.mu.RUnlock()
	if empty || cert == nil {
		return false
	}
	serial, fingerprint := CertSpecs(cert)
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, bySerial := m.revoked[serial]
	_, byFingerprint := m.revoked[fingerprint]
	return bySerial || byFingerprint
}

// Len returns the number of credentials.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.creds)
}

// Healthy reports whether the watches are live. While it is false the
// mirror still answers, from the last state it saw.
func (m *Mirror) Healthy() bool {
	return m.healthy.Load() && m.nc.IsConnected()
}

// Subscribe registers fn to be called for every change after the initial
// load, once the mirror reflects it. fn runs on the watch goroutine, so it
// must return quickly; it may call cancel. Changes that happened while NATS
// was unreachable are reported when the mirror catches up.
func (m *Mirror) Subscribe(fn func(Change)) (cancel func()) {
	m.subMu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs = append(m.subs, subscriber{id: id, fn: fn})
	m.subMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.subMu.Lock()
			defer m.subMu.Unlock()
			for i, s := range m.subs {
				if s.id == id {
					m.subs = append(m.subs[:i:i], m.subs[i+1:]...)
					return
				}
			}
		})
	}
}

func (m *Mirror) notify(changes ...Change) {
	if len(changes) == 0 {
		return
	}
	m.subMu.Lock()
	subs := m.subs // never modified in place, so the slice stays valid
	m.subMu.Unlock()
	for _, c := range changes {
		for _, s := range subs {
			s.fn(c)
		}
	}
}

// indexController adds delta to the controller count for c, if c is an
// enabled controller. Lock m.mu for writing.
func (m *Mirror) indexController(c Credential, delta int) {
	if c.Role != RoleController || c.Disabled || c.EndpointID == "" {
		return
	}
	n := m.controllers[c.EndpointID] + delta
	if n <= 0 {
		delete(m.controllers, c.EndpointID)
		return
	}
	m.controllers[c.EndpointID] = n
}

// credFromEntry turns a watch entry into the username it concerns and the
// credential now stored, if any. ok is false for keys no username encodes
// to, which are ignored.
func (m *Mirror) credFromEntry(e jetstream.KeyValueEntry) (username string, ce credEntry, present, ok bool) {
	username, err := DecodeKey(e.Key())
	if err != nil {
		m.log.Warn("ignoring credential entry with a bad key", "key", e.Key(), "err", err)
		return "", credEntry{}, false, false
	}
	if e.Operation() != jetstream.KeyValuePut {
		return username, credEntry{}, false, true
	}
	c, err := decodeCredential(e.Key(), e.Value())
	if err != nil {
		m.log.Warn("treating undecodable credential as absent", "username", username, "err", err)
		return username, credEntry{}, false, true
	}
	return username, credEntry{cred: c, rev: e.Revision()}, true, true
}

// revFromEntry is credFromEntry for the revocation bucket.
func (m *Mirror) revFromEntry(e jetstream.KeyValueEntry) (spec string, re revEntry, present, ok bool) {
	if e.Operation() != jetstream.KeyValuePut {
		spec, err := DecodeKey(e.Key())
		return spec, revEntry{}, false, err == nil
	}
	r, err := decodeRevocation(e.Key(), e.Value())
	if err != nil {
		m.log.Warn("ignoring revocation entry with a bad key", "key", e.Key(), "err", err)
		return "", revEntry{}, false, false
	}
	return r.Spec, revEntry{r: r, rev: e.Revision()}, true, true
}

// applyCred applies one live credential update and reports it.
func (m *Mirror) applyCred(e jetstream.KeyValueEntry) {
	username, ce, present, ok := m.credFromEntry(e)
	if !ok {
		return
	}
	m.mu.Lock()
	old, had := m.creds[username]
	if had && present && old.rev == ce.rev {
		m.mu.Unlock()
		return
	}
	if had {
		m.indexController(old.cred, -1)
	}
	if present {
		m.creds[username] = ce
		m.indexController(ce.cred, +1)
	} else {
		delete(m.creds, username)
	}
	m.mu.Unlock()

	switch {
	case present:
		m.notify(Change{Kind: CredentialUpdated, Username: username, Old: old.cred, New: ce.cred})
	case had:
		m.notify(Change{Kind: CredentialRemoved, Username: username, Old: old.cred})
	}
}

// applyRevocation applies one live revocation update and reports it.
func (m *Mirror) applyRevocation(e jetstream.KeyValueEntry) {
	spec, re, present, ok := m.revFromEntry(e)
	if !ok {
		return
	}
	m.mu.Lock()
	_, had := m.revoked[spec]
	if present {
		m.revoked[spec] = re
	} else {
		delete(m.revoked, spec)
	}
	m.mu.Unlock()

	switch {
	case present:
		m.notify(Change{Kind: CertRevoked, CertSpec: spec})
	case had:
		m.notify(Change{Kind: CertUnrevoked, CertSpec: spec})
	}
}

// snapshot is the full contents of both buckets at one moment.
type snapshot struct {
	creds   map[string]credEntry
	revoked map[string]revEntry
}

// replace installs snap and returns how it differs from what the mirror
// held, so that changes missed during an outage still reach subscribers.
func (m *Mirror) replace(snap snapshot) []Change {
	controllers := make(map[string]int)
	m.mu.Lock()
	oldCreds, oldRevoked := m.creds, m.revoked
	m.creds, m.revoked, m.controllers = snap.creds, snap.revoked, controllers
	for _, e := range snap.creds {
		m.indexController(e.cred, +1)
	}
	m.mu.Unlock()

	var changes []Change
	for u, old := range oldCreds {
		if _, ok := snap.creds[u]; !ok {
			changes = append(changes, Change{Kind: CredentialRemoved, Username: u, Old: old.cred})
		}
	}
	for u, e := range snap.creds {
		if old, ok := oldCreds[u]; !ok || old.rev != e.rev {
			changes = append(changes, Change{Kind: CredentialUpdated, Username: u, Old: old.cred, New: e.cred})
		}
	}
	for spec := range oldRevoked {
		if _, ok := snap.revoked[spec]; !ok {
			changes = append(changes, Change{Kind: CertUnrevoked, CertSpec: spec})
		}
	}
	for spec, e := range snap.revoked {
		if old, ok := oldRevoked[spec]; !ok || old.rev != e.rev {
			changes = append(changes, Change{Kind: CertRevoked, CertSpec: spec})
		}
	}
	return changes
}
