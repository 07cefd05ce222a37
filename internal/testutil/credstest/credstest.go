// Package credstest starts, for one test, what every integration harness
// puts behind a broker: embedded NATS, the credential store on it and the
// broker's mirror of that store, running until the test ends. Only tests
// import it; production code must not. (The credential store's own tests
// cannot use it: it imports broker/creds.)
package credstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
	"cuttle/embednats"
	"cuttle/internal/natstest"
	"cuttle/internal/testutil"
)

// Stack is embedded NATS with the credential store and the mirror.
type Stack struct {
	NATS   *embednats.Server
	JS     jetstream.JetStream
	Store  *creds.Store
	Mirror *creds.Mirror
}

// Start starts NATS on a random loopback port, opens the credential store
// and loads a mirror configured by mirror (its JetStream is filled in),
// and runs the mirror until the test's cleanup, which fails the test if
// Run returns an error or does not return within 15 s.
func Start(t testing.TB, mirror creds.MirrorConfig) *Stack {
	t.Helper()
	s := &Stack{NATS: natstest.Start(t)}
	_, s.JS = natstest.JetStream(t, s.NATS)
	var err error
	if s.Store, err = creds.OpenStore(t.Context(), creds.StoreConfig{JetStream: s.JS}); err != nil {
		t.Fatalf("opening the credential store: %v", err)
	}
	mirror.JetStream = s.JS
	if s.Mirror, err = creds.NewMirror(t.Context(), mirror); err != nil {
		t.Fatalf("loading the credential mirror: %v", err)
	}
	testutil.Run(t, "credential mirror", 15*time.Second, s.Mirror.Run)
	return s
}

// Add stores a credential and waits up to within until the mirror has it,
// and returns its secret.
func (s *Stack) Add(t testing.TB, req creds.AddRequest, within time.Duration) string {
	t.Helper()
	c, secret, err := s.Store.Add(t.Context(), req)
	if err != nil {
		t.Fatalf("adding credential %+v: %v", req, err)
	}
	s.WaitMirror(t, within, c.Username)
	return secret
}

// WaitMirror waits up to within until the mirror has the credential
// username.
func (s *Stack) WaitMirror(t testing.TB, within time.Duration, username string) {
	t.Helper()
	testutil.Eventually(t, within, "the mirror to have "+username, func() bool {
		_, ok := s.Mirror.Lookup(username)
		return ok
	})
}
