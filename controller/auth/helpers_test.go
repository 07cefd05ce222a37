package auth

import (
	"context"
	"testing"
	"time"

	"cuttle/internal/natstest"

	"github.com/nats-io/nats.go/jetstream"
)

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
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

// eventually retries check every 10ms until it returns "" or d passes.
func eventually(t testing.TB, d time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
