// Package natstest starts real embedded NATS JetStream servers for tests, on
// 127.0.0.1 with a random port and a per-test store, and connects clients to
// them. Everything it starts is stopped by t.Cleanup.
package natstest

import (
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"cuttle/embednats"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LogEnv names the environment variable that, when set to a non-empty value,
// sends the embedded servers' logs to stderr at debug level.
const LogEnv = "CUTTLE_TEST_NATS_LOG"

// RandomPort, passed to StartAt, picks a free port; Port tells which.
const RandomPort = embednats.RandomPort

// Start starts a server on a random loopback port with a store in
// t.TempDir().
func Start(t testing.TB) *embednats.Server {
	t.Helper()
	return StartAt(t, t.TempDir(), RandomPort)
}

// StartAt starts a server with the given store directory and port, so a test
// can stop a server and start it again where clients expect it. The server is
// shut down at cleanup; shutting it down earlier is fine.
func StartAt(t testing.TB, dataDir string, port int) *embednats.Server {
	t.Helper()
	s, err := embednats.Start(embednats.Config{
		DataDir: dataDir,
		Port:    port,
		Logger:  logger(),
	})
	if err != nil {
		t.Fatalf("starting embedded NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Port returns the TCP port s listens on.
func Port(t testing.TB, s *embednats.Server) int {
	t.Helper()
	u, err := url.Parse(s.ClientURL())
	if err != nil {
		t.Fatalf("parsing %q: %v", s.ClientURL(), err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("parsing port of %q: %v", s.ClientURL(), err)
	}
	return port
}

// JetStream connects to s and returns the connection and its JetStream
// context; the connection is closed at cleanup. The client reconnects
// forever every 100ms, which suits tests that restart the server; opts are
// applied after these defaults and may override them.
func JetStream(t testing.TB, s *embednats.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	all := append([]nats.Option{
		nats.ErrorHandler(asyncError),
		nats.Name(t.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
	}, opts...)
	nc, err := s.Connect(all...)
	if err != nil {
		t.Fatalf("connecting to embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("creating JetStream context: %v", err)
	}
	return nc, js
}

// CheckGoroutines records the number of goroutines now and, at cleanup,
// fails the test if more are still running after a grace period. Call it
// first in a test, so its cleanup runs after every other one. Goroutines of
// nats-server itself are not counted: some of its background loops (file
// store flushing, the ATS clock) outlive Shutdown by a moment or for good,
// and they are not this project's to leak.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before, _ := ownGoroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, stacks := ownGoroutines()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines leaked (%d before, %d after):\n%s", n-before, before, n, stacks)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// ownGoroutines counts the running goroutines that are not nats-server's,
// and returns their stacks.
func ownGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var own []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.TrimSpace(g) == "" || strings.Contains(g, "github.com/nats-io/nats-server/v2/server") {
			continue
		}
		own = append(own, g)
	}
	return len(own), strings.Join(own, "\n\n")
}

// asyncError replaces nats.go's default handler, which writes every async
// error (e.g. "broken pipe" while a test restarts its server) to stderr.
func asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if log := logger(); log != nil {
		log.Debug("NATS async error", "err", err)
	}
}

func logger() *slog.Logger {
	if os.Getenv(LogEnv) == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
