// Package brokertest runs a broker, and the presence writer beside it, for
// one test, as the integration harnesses of the controller, the jobs, the
// API and the CLI start them. Only tests import it; production code must
// not. (The broker's own tests cannot use it: it imports the broker.)
package brokertest

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker"
	"cuttle/broker/presence"
	"cuttle/internal/testutil"
)

// Run runs a broker configured by cfg until the test's cleanup, which fails
// the test if Run returns an error or does not return within 15 s. A config
// without a Registerer gets a registry of its own, so that brokers in one
// test binary do not meet on the default one. Run returns once every
// listener is bound (waiting up to 20 s).
func Run(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	b, _ := Start(t, cfg)
	return b
}

// Start is Run for a test that stops the broker itself, say to start
// another on the same addresses: stop cancels it and waits for it (and
// may be called more than once). As a restarted broker binds the port the
// last one had, which the kernel may not have freed yet, Start tries
// creating the broker for up to a second.
func Start(t testing.TB, cfg broker.Config) (b *broker.Broker, stop func()) {
	t.Helper()
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	var err error
	for range 50 {
		if b, err = broker.New(cfg); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("creating the broker: %v", err)
	}
	stop = testutil.Run(t, "broker", 15*time.Second, b.Run)
	for _, l := range cfg.Listeners {
		testutil.Eventually(t, 20*time.Second, "broker listening on "+l.Name, func() bool {
			a := b.Addr(l.Name)
			return a != "" && !strings.HasSuffix(a, ":0")
		})
	}
	return b, stop
}

// Presence runs a presence writer with its default bucket on js until the
// test's cleanup, which fails the test if Run returns an error or does not
// return within 15 s.
func Presence(t testing.TB, js jetstream.JetStream) *presence.Writer {
	t.Helper()
	w, err := presence.New(t.Context(), presence.Config{JetStream: js})
	if err != nil {
		t.Fatalf("opening the presence writer: %v", err)
	}
	testutil.Run(t, "presence writer", 15*time.Second, w.Run)
	return w
}
