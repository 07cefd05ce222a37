package auth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/kvwatch"
)

// Defaults for Config.
const (
	DefaultBucket        = "cuttle-tokens"
	DefaultAuditStream   = "cuttle-audit"
	DefaultAuditSubject  = "cuttle.audit"
	DefaultAuditMaxAge   = 30 * 24 * time.Hour
	DefaultAuditMaxBytes = 1 << 30 // 1 GiB
	DefaultLoadTimeout   = 5 * time.Second
	// lastUsedEvery is how often, at most, a token's last_used is written.
	lastUsedEvery = time.Minute
)

// maxUpdateAttempts bounds the optimistic read-modify-write loops; a
// conflict means another writer changed the same token meanwhile.
const maxUpdateAttempts = 5

// Config configures a Store.
type Config struct {
	// JetStream reaches the NATS server or cluster. Its connection should
	// reconnect forever: Run rides out outages on it.
	JetStream jetstream.JetStream
	// Bucket holds the tokens; default "cuttle-tokens".
	Bucket string
	// AuditStream and AuditSubject name the audit log; defaults
	// "cuttle-audit" and "cuttle.audit".
	AuditStream  string
	AuditSubject string
	// AuditMaxAge and AuditMaxBytes bound the audit log. When Open creates
	// the stream, zero means 30 days and 1 GiB; when it exists, zero leaves
	// its limit alone, so a tool started with defaults never shortens an
	// audit trail an operator lengthened. AuditMaxBytes -1 means no limit.
	AuditMaxAge   time.Duration
	AuditMaxBytes int64
	// Replicas follows the same rule for the bucket and the stream: 0
	// means 1 on creation and leaves existing ones alone (use 3 on a
	// cluster).
	Replicas int
	// LoadTimeout bounds the initial load and each reload; default 5s.
	LoadTimeout time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// limitsSet records which limits the caller set, before setDefaults fills
// in the rest: only those may change existing buckets and streams.
type limitsSet struct {
	maxAge, maxBytes, replicas bool
}

func (c *Config) setDefaults() (limitsSet, error) {
	set := limitsSet{maxAge: c.AuditMaxAge != 0, maxBytes: c.AuditMaxBytes != 0, replicas: c.Replicas != 0}
	if c.JetStream == nil {
		return set, errors.New("auth: Config.JetStream is nil")
	}
	c.Bucket = cmp.Or(c.Bucket, DefaultBucket)
	c.AuditStream = cmp.Or(c.AuditStream, DefaultAuditStream)
	c.AuditSubject = cmp.Or(c.AuditSubject, DefaultAuditSubject)
	switch {
	case c.AuditMaxAge < 0:
		return set, fmt.Errorf("auth: %w: AuditMaxAge %s", ErrInvalid, c.AuditMaxAge)
	case c.AuditMaxAge == 0:
		c.AuditMaxAge = DefaultAuditMaxAge
	}
	switch {
	case c.AuditMaxBytes < 0:
		c.AuditMaxBytes = -1
	case c.AuditMaxBytes == 0:
		c.AuditMaxBytes = DefaultAuditMaxBytes
	}
	if c.Replicas < 0 {
		return set, fmt.Errorf("auth: %w: Replicas %d", ErrInvalid, c.Replicas)
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return set, nil
}

// Store holds the API tokens and the audit log. Authenticate answers from
// memory; Run keeps that memory current. A Store is safe for concurrent
// use.
type Store struct {
	cfg   Config
	log   *slog.Logger
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	audit jetstream.Stream
	now   func() time.Time
	// touchEvery is lastUsedEvery, shortened by tests.
	touchEvery time.Duration

	mu     sync.RWMutex // guards tokens
	tokens map[string]entry

	touchMu sync.Mutex // guards queued and pending
	// queued is when this process last queued a last_used write per token
	// ID, so a busy token queues one a minute, not one per request;
	// pending holds the writes Run has yet to make.
	queued  map[string]time.Time
	pending map[string]time.Time
	touchCh chan struct{} // wakes Run to write pending; capacity 1

	// initial holds the watch Open loaded through, and status the
	// connection's state changes from Open on, until Run takes them over.
	initMu  sync.Mutex // guards initial and status
	initial *kvwatch.Watch
	status  chan nats.Status
	running atomic.Bool
}

// Open opens the token bucket and the audit stream, creating them when
// missing, and loads every token. It fails within LoadTimeout, naming the
// NATS problem, when NATS is unreachable. Call Run to keep the tokens
// current: without it, revocations made elsewhere are not seen.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	set, err := cfg.setDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "auth"),
		nc:         cfg.JetStream.Conn(),
		js:         cfg.JetStream,
		now:        func() time.Time { return time.Now().UTC() },
		touchEvery: lastUsedEvery,
		tokens:     map[string]entry{},
		queued:     map[string]time.Time{},
		pending:    map[string]time.Time{},
		touchCh:    make(chan struct{}, 1),
	}
	if s.nc.IsClosed() {
		return nil, fmt.Errorf("opening token store: %w", nats.ErrConnectionClosed)
	}
	octx, cancel := context.WithTimeout(ctx, cfg.LoadTimeout)
	defer cancel()
	if s.kv, err = openBucket(octx, cfg, set.replicas); err != nil {
		return nil, natsError(s.nc, "opening token bucket "+cfg.Bucket, err)
	}
	if s.audit, err = openAuditStream(octx, cfg, set); err != nil {
		return nil, natsError(s.nc, "opening audit stream "+cfg.AuditStream, err)
	}
	s.status = s.nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	w, snap, err := s.load(ctx)
	if err != nil {
		s.nc.RemoveStatusListener(s.status)
		return nil, err
	}
	s.replace(snap)
	s.initial = w
	s.log.Info("tokens loaded", "tokens", len(snap))
	return s, nil
}

func openBucket(ctx context.Context, cfg Config, setReplicas bool) (jetstream.KeyValue, error) {
	want := jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Cuttle API tokens: name, role and salted hash per token ID",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	}
	kv, err := cfg.JetStream.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = cfg.JetStream.CreateKeyValue(ctx, want)
		if errors.Is(err, jetstream.ErrBucketExists) {
			// Another replica created it between our two calls.
			kv, err = cfg.JetStream.KeyValue(ctx, cfg.Bucket)
		}
		return kv, err
	}
	if err != nil || !setReplicas {
		return kv, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.Config().Replicas == want.Replicas {
		return kv, nil
	}
	return cfg.JetStream.UpdateKeyValue(ctx, want)
}

// natsError wraps err with what was being done and, when the connection is
// down, its state and last error, which are usually the real cause.
func natsError(nc *nats.Conn, doing string, err error) error {
	if nc != nil && nc.Status() != nats.CONNECTED {
		cause := ""
		if last := nc.LastError(); last != nil {
			cause = fmt.Sprintf(", last error: %v", last)
		}
		return fmt.Errorf("%s: NATS connection is %s%s: %w", doing, nc.Status(), cause, err)
	}
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%s: JetStream is not available on the NATS server: %w", doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// Create makes a token and returns it with its secret, which exists
// nowhere else: the caller must hand it over now. ttl 0 means it never
// expires.
func (s *Store) Create(ctx context.Context, name string, role Role, createdBy string, ttl time.Duration) (Token, string, error) {
	if _, ok := permissions[role]; !ok {
		return Token{}, "", fmt.Errorf("%w: role %q", ErrInvalid, role)
	}
	if err := validName(name); err != nil {
		return Token{}, "", err
	}
	switch {
	case ttl < 0:
		return Token{}, "", fmt.Errorf("%w: negative lifetime %s", ErrInvalid, ttl)
	case len(createdBy) > MaxCreatedByLen || !printable(createdBy):
		return Token{}, "", fmt.Errorf("%w: created_by must be printable UTF-8 of at most %d bytes", ErrInvalid, MaxCreatedByLen)
	}
	id, secret, err := newSecret()
	if err != nil {
		return Token{}, "", err
	}
	h, err := hash(secret)
	if err != nil {
		return Token{}, "", err
	}
	now := s.now()
	rec := record{Token: Token{ID: id, Name: name, Role: role, Created: now, CreatedBy: createdBy}, Hash: h}
	if ttl > 0 {
		rec.Expires = now.Add(ttl)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return Token{}, "", fmt.Errorf("encoding token: %w", err)
	}
	rev, err := s.kv.Create(ctx, id, data)
	if err != nil {
		return Token{}, "", natsError(s.nc, "creating token "+name, err)
	}
	// Usable here at once, without waiting for the watch.
	s.applyRecord(rec, rev)
	s.log.Info("token created", "token_id", id, "name", name, "role", role, "created_by", createdBy, "expires", rec.Expires)
	return rec.Token, secret, nil
}

// Get returns one token, read from the bucket.
func (s *Store) Get(ctx context.Context, id string) (Token, error) {
	rec, _, err := s.get(ctx, id)
	return rec.Token, err
}

func (s *Store) get(ctx context.Context, id string) (record, uint64, error) {
	if !validID(id) {
		return record{}, 0, fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return record{}, 0, fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return record{}, 0, natsError(s.nc, "reading token "+id, err)
	}
	rec, err := decodeRecord(e.Key(), e.Value())
	return rec, e.Revision(), err
}

// decodeRecord parses a stored value. The ID comes from the key, which is
// what lookups go by, so a value cannot claim another token's identity.
func decodeRecord(key string, value []byte) (record, error) {
	var rec record
	if err := json.Unmarshal(value, &rec); err != nil {
		return record{}, fmt.Errorf("%w: token %q: %v", ErrInvalid, key, err)
	}
	rec.ID = key
	if err := rec.validate(); err != nil {
		return record{}, err
	}
	return rec, nil
}

// List returns every token, revoked and expired ones included, oldest
// first, read from the bucket so that it includes tokens just created
// elsewhere. Entries that do not decode are logged and skipped.
func (s *Store) List(ctx context.Context) ([]Token, error) {
	var out []Token
	err := kvwatch.ReadAll(ctx, s.kv, func(e jetstream.KeyValueEntry) {
		rec, err := decodeRecord(e.Key(), e.Value())
		if err != nil {
			s.log.Warn("skipping bad token entry", "key", e.Key(), "err", err)
			return
		}
		out = append(out, rec.Token)
	})
	if err != nil {
		return nil, natsError(s.nc, "listing tokens", err)
	}
	slices.SortFunc(out, func(a, b Token) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Revoke stops a token from working, on every replica as soon as its watch
// sees the change. The token stays listed, marked revoked. Revoking a
// revoked token does nothing.
func (s *Store) Revoke(ctx context.Context, id string) error {
	changed, err := s.update(ctx, id, func(rec *record) bool {
		if rec.Revoked {
			return false
		}
		rec.Revoked, rec.RevokedAt = true, s.now()
		return true
	})
	if err == nil && changed {
		s.log.Info("token revoked", "token_id", id)
	}
	return err
}

// update applies fn to the stored token and writes the result only if
// nobody changed it meanwhile, retrying on conflict, so that a last_used
// write can never undo a revocation.
func (s *Store) update(ctx context.Context, id string, fn func(*record) (changed bool)) (bool, error) {
	for range maxUpdateAttempts {
		rec, rev, err := s.get(ctx, id)
		if err != nil {
			return false, err
		}
		if !fn(&rec) {
			return false, nil
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return false, fmt.Errorf("encoding token: %w", err)
		}
		newRev, err := s.kv.Update(ctx, id, data, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return false, natsError(s.nc, "updating token "+id, err)
		}
		s.applyRecord(rec, newRev)
		return true, nil
	}
	return false, fmt.Errorf("updating token %s: changed concurrently %d times, giving up", id, maxUpdateAttempts)
}

// Authenticate returns the token whose full secret ("cut_...") this is. It
// does no I/O. Every failure is ErrUnauthorized; the wrapped message says
// why, for logs, and the secret is checked before revocation and expiry so
// only its holder can learn those.
func (s *Store) Authenticate(secret string) (Token, error) {
	e, err := s.verify(secret)
	if err != nil {
		return Token{}, err
	}
	s.touch(e.rec.Token)
	return e.rec.Token, nil
}

// dummy is checked when a token's ID is unknown, so that a miss costs the
// same HMAC as a wrong secret and timing does not reveal which IDs exist.
var dummy = entry{salt: make([]byte, saltBytes), mac: make([]byte, 32)}

// verify is Authenticate without recording the use.
func (s *Store) verify(secret string) (entry, error) {
	id, ok := parseToken(secret)
	if !ok {
		return entry{}, fmt.Errorf("%w: malformed token", ErrUnauthorized)
	}
	s.mu.RLock()
	e, found := s.tokens[id]
	s.mu.RUnlock()
	if !found {
		dummy.verify(secret)
		return entry{}, fmt.Errorf("%w: unknown token %s", ErrUnauthorized, id)
	}
	if !e.verify(secret) {
		return entry{}, fmt.Errorf("%w: wrong secret for token %s", ErrUnauthorized, id)
	}
	now := s.now()
	switch {
	case e.rec.Revoked:
		return entry{}, fmt.Errorf("%w: token %s is revoked", ErrUnauthorized, id)
	case !e.rec.Active(now):
		return entry{}, fmt.Errorf("%w: token %s expired at %s", ErrUnauthorized, id, e.rec.Expires.Format(time.RFC3339))
	}
	return e, nil
}

// touch queues a last_used write for t unless one was written or queued
// within touchEvery. Run makes the write, so requests never wait on it.
func (s *Store) touch(t Token) {
	now := s.now()
	if now.Sub(t.LastUsed) < s.touchEvery {
		return
	}
	s.touchMu.Lock()
	if q, ok := s.queued[t.ID]; ok && now.Sub(q) < s.touchEvery {
		s.touchMu.Unlock()
		return
	}
	s.queued[t.ID] = now
	s.pending[t.ID] = now
	s.touchMu.Unlock()
	select {
	case s.touchCh <- struct{}{}:
	default: // Run has a wake-up pending already
	}
}

// hasAdmin reports whether an active admin token exists.
func (s *Store) hasAdmin() bool {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.tokens {
		if e.rec.Role == RoleAdmin && e.rec.Active(now) {
			return true
		}
	}
	return false
}
