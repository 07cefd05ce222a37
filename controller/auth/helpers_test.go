package auth

import (
	"context"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go/jetstream"
)

func testCtx(t testing.TB) context.Context { return testutil.Context(t, 30*time.Second) }

// openStore opens a Store on js without running it.
func openStore(t testing.TB, js jetstream.JetStream) *Store {
	t.Helper()
	s, err := Open(testCtx(t), Config{JetStream: js})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// run runs s until the test ends, and checks that Run returns nil.
func run(t testing.TB, s *Store) {
	t.Helper()
	testutil.Run(t, "Run", 10*time.Second, s.Run)
}

// newStore starts a NATS server and returns a running Store on it.
func newStore(t testing.TB) (*Store, jetstream.JetStream) {
	t.Helper()
	_, js := natstest.JetStream(t, natstest.Start(t))
	s := openStore(t, js)
	run(t, s)
	return s, js
}

func create(t testing.TB, s *Store, name string, role Role, ttl time.Duration) (Token, string) {
	t.Helper()
	tok, secret, err := s.Create(testCtx(t), name, role, "tester", ttl)
	if err != nil {
		t.Fatalf("Create(%q, %s): %v", name, role, err)
	}
	return tok, secret
}
