package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go/jetstream"
)

// clock is a settable time source, safe to read from Run's goroutine.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newClockedStore is newStore with a settable clock.
func newClockedStore(t testing.TB) (*Store, jetstream.JetStream, *clock) {
	t.Helper()
	_, js := natstest.JetStream(t, natstest.Start(t))
	s := openStore(t, js)
	c := &clock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	s.now = c.Now
	run(t, s)
	return s, js, c
}

func TestCreateAuthenticate(t *testing.T) {
	s, js := newStore(t)
	ctx := testCtx(t)
	tok, secret := create(t, s, "ci pipeline", RoleOperator, 0)
	if !tokenShape.MatchString(secret) || !strings.Contains(secret, tok.ID) {
		t.Fatalf("secret %q for ID %q", secret, tok.ID)
	}
	if tok.Name != "ci pipeline" || tok.Role != RoleOperator || tok.CreatedBy != "tester" ||
		tok.Created.IsZero() || !tok.Expires.IsZero() || tok.Revoked {
		t.Fatalf("Create returned %+v", tok)
	}

	got, err := s.Authenticate(secret)
	if err != nil || got.ID != tok.ID || got.Role != RoleOperator {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	if got, err := s.Get(ctx, tok.ID); err != nil || got.Name != tok.Name {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, "aaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(unknown) = %v, want ErrNotFound", err)
	}

	// The bucket holds a salted hash under the ID, never the secret.
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v := string(e.Value()); strings.Contains(v, secret[len(secret)-secretLen:]) || !strings.Contains(v, `"hash":"hmac-sha256$`) {
		t.Fatalf("stored value %s", v)
	}

	tok2, _ := create(t, s, "viewer", RoleViewer, time.Hour)
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != tok.ID || list[1].ID != tok2.ID || list[1].Expires.IsZero() {
		t.Fatalf("List = %+v", list)
	}

	// Wrong secrets for a real ID fail, whatever part is wrong.
	for _, bad := range []string{
		secret[:len(secret)-1] + flip(secret[len(secret)-1]),
		secret[:25] + flip(secret[25]) + secret[26:],
	} {
		if _, err := s.Authenticate(bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Authenticate(altered) = %v, want ErrUnauthorized", err)
		}
	}
}

// flip returns another base32 character.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestCreateErrors(t *testing.T) {
	s, _ := newStore(t)
	tests := []struct {
		name, tokName, createdBy string
		role                     Role
		ttl                      time.Duration
	}{
		{"unknown role", "x", "me", "root", 0},
		{"empty name", "", "me", RoleViewer, 0},
		{"long name", strings.Repeat("n", MaxNameLen+1), "me", RoleViewer, 0},
		{"control in name", "a\tb", "me", RoleViewer, 0},
		{"negative ttl", "x", "me", RoleViewer, -time.Second},
		{"bad created_by", "x", "me\x00", RoleViewer, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Create(testCtx(t), tt.tokName, tt.role, tt.createdBy, tt.ttl); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Create = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestRevokeAcrossStores runs two Stores, as two controller replicas would,
// on separate connections: a token made on one works on the other, and a
// revocation on either is effective on both within a second.
func TestRevokeAcrossStores(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	srv := natstest.Start(t)
	_, jsA := natstest.JetStream(t, srv)
	_, jsB := natstest.JetStream(t, srv)
	a, b := openStore(t, jsA), openStore(t, jsB)
	run(t, a)
	run(t, b)
	ctx := testCtx(t)

	tok, secret := create(t, a, "shared", RoleAdmin, 0)
	testutil.EventuallyOK(t, time.Second, func() string {
		if _, err := b.Authenticate(secret); err != nil {
			return "second store does not know the new token: " + err.Error()
		}
		return ""
	})

	if err := b.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(secret); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoking store still accepts the token: %v", err)
	}
	start := time.Now()
	testutil.EventuallyOK(t, time.Second, func() string {
		if _, err := a.Authenticate(secret); err == nil {
			return "other store still accepts the revoked token"
		}
		return ""
	})
	t.Logf("revocation reached the other store in %s", time.Since(start))

	got, err := a.Get(ctx, tok.ID)
	if err != nil || !got.Revoked || got.RevokedAt.IsZero() {
		t.Fatalf("after revoke: %+v, %v", got, err)
	}
	if err := a.Revoke(ctx, tok.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := a.Revoke(ctx, "aaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
	}
	if err := a.Revoke(ctx, "../etc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke(bad ID) = %v, want ErrNotFound", err)
	}
}

func TestExpiry(t *testing.T) {
	s, _, c := newClockedStore(t)
	tok, secret := create(t, s, "short-lived", RoleViewer, time.Hour)
	if !tok.Expires.Equal(c.Now().Add(time.Hour)) {
		t.Fatalf("expires %v, want an hour after %v", tok.Expires, c.Now())
	}
	c.Add(59 * time.Minute)
	if _, err := s.Authenticate(secret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	c.Add(time.Minute)
	_, err := s.Authenticate(secret)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("at expiry: %v, want ErrUnauthorized (expired)", err)
	}
}

// TestLastUsedLazy checks that uses are written asynchronously and at most
// once a minute per token, and that a late write never undoes a revocation.
func TestLastUsedLazy(t *testing.T) {
	s, js, c := newClockedStore(t)
	ctx := testCtx(t)
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	tok, secret := create(t, s, "busy", RoleOperator, 0)
	stored := func() (Token, uint64) {
		t.Helper()
		e, err := kv.Get(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := decodeRecord(e.Key(), e.Value())
		if err != nil {
			t.Fatal(err)
		}
		return rec.Token, e.Revision()
	}

	first := c.Now()
	for range 50 {
		if _, err := s.Authenticate(secret); err != nil {
			t.Fatal(err)
		}
	}
	var rev uint64
	testutil.EventuallyOK(t, 5*time.Second, func() string {
		var got Token
		got, rev = stored()
		if !got.LastUsed.Equal(first) {
			return "last_used " + got.LastUsed.String()
		}
		return ""
	})

	// Within the minute: no more writes, however many uses.
	c.Add(30 * time.Second)
	for range 50 {
		if _, err := s.Authenticate(secret); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if got, r := stored(); r != rev || !got.LastUsed.Equal(first) {
		t.Fatalf("written again within a minute: revision %d→%d, last_used %v", rev, r, got.LastUsed)
	}

	c.Add(31 * time.Second)
	later := c.Now()
	if _, err := s.Authenticate(secret); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyOK(t, 5*time.Second, func() string {
		if got, _ := stored(); !got.LastUsed.Equal(later) {
			return "last_used " + got.LastUsed.String() + ", want " + later.String()
		}
		return ""
	})
}

// TestLastUsedKeepsRevocation queues a use, revokes the token, then makes
// the queued write: the token stays revoked.
func TestLastUsedKeepsRevocation(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	s := openStore(t, js) // not running: writeTouches is called by hand
	ctx := testCtx(t)
	tok, secret := create(t, s, "doomed", RoleOperator, 0)
	if _, err := s.Authenticate(secret); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	s.writeTouches(ctx)
	got, err := s.Get(ctx, tok.ID)
	if err != nil || !got.Revoked || got.LastUsed.IsZero() {
		t.Fatalf("after the late write: %+v, %v", got, err)
	}
	if _, err := s.Authenticate(secret); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Authenticate after revoke = %v", err)
	}
}

// TestCorruptEntryLocksOut overwrites a token with garbage: it must stop
// working rather than keep its old rights.
func TestCorruptEntryLocksOut(t *testing.T) {
	s, js := newStore(t)
	ctx := testCtx(t)
	tok, secret := create(t, s, "victim", RoleAdmin, 0)
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, tok.ID, "{not json"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyOK(t, time.Second, func() string {
		if _, err := s.Authenticate(secret); err == nil {
			return "corrupted token still authenticates"
		}
		return ""
	})
	list, err := s.List(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

// TestOpenKeepsLimits checks the audit stream's defaults, and that
// reopening with defaults does not undo an operator's longer retention.
func TestOpenKeepsLimits(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	ctx := testCtx(t)
	maxAge := func() time.Duration {
		t.Helper()
		st, err := js.Stream(ctx, DefaultAuditStream)
		if err != nil {
			t.Fatal(err)
		}
		c := st.CachedInfo().Config
		if len(c.Subjects) != 1 || c.Subjects[0] != DefaultAuditSubject || c.MaxBytes != DefaultAuditMaxBytes {
			t.Fatalf("audit stream subjects %v, max_bytes %d", c.Subjects, c.MaxBytes)
		}
		return c.MaxAge
	}
	openStore(t, js)
	if got := maxAge(); got != DefaultAuditMaxAge {
		t.Fatalf("max_age %s, want %s", got, DefaultAuditMaxAge)
	}
	if _, err := Open(ctx, Config{JetStream: js, AuditMaxAge: 90 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	openStore(t, js)
	if got := maxAge(); got != 90*24*time.Hour {
		t.Fatalf("max_age %s after reopening with defaults, want 90 days", got)
	}
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(ctx); err != nil || st.History() != 1 {
		t.Fatalf("bucket status %v, %v", st, err)
	}
	if _, err := Open(ctx, Config{}); err == nil {
		t.Fatal("Open without JetStream succeeded")
	}
}

// TestRunRidesOutRestart restarts NATS under a running Store: it keeps
// answering meanwhile, and sees a revocation made after the restart.
func TestRunRidesOutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a server")
	}
	srv, restart := natstest.StartRestartable(t)
	_, js := natstest.JetStream(t, srv)
	s := openStore(t, js)
	run(t, s)
	tok, secret := create(t, s, "survivor", RoleViewer, 0)

	srv.Shutdown()
	if _, err := s.Authenticate(secret); err != nil {
		t.Fatalf("while NATS is down: %v", err)
	}
	srv = restart()
	_, js2 := natstest.JetStream(t, srv)
	other := openStore(t, js2)
	if err := other.Revoke(testCtx(t), tok.ID); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyOK(t, 15*time.Second, func() string {
		if _, err := s.Authenticate(secret); err == nil {
			return "revocation after the restart not seen"
		}
		return ""
	})
}

// TestRunOnce checks that a Store cannot be run twice at once.
func TestRunOnce(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	testutil.EventuallyOK(t, time.Second, func() string {
		if !s.running.Load() {
			return "Run has not started"
		}
		return ""
	})
	if err := s.Run(ctx); err == nil {
		t.Fatal("second Run returned nil")
	}
}
