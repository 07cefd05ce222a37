// Package natstest starts real embedded NATS JetStream servers for tests, on
// 127.0.0.1 with a random port and a per-test store, and connects clients to
// them. Everything it starts is stopped by t.Cleanup.
package natstest

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"cuttle/embednats"
	"cuttle/internal/testutil"

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

// StartRestartable starts a server as Start does, and returns with it a
// function that starts a server again on the same port with the same
// store, for tests that stop NATS under a client and bring it back where
// the client expects it. Shut the running server down before calling
// restart.
func StartRestartable(t testing.TB) (s *embednats.Server, restart func() *embednats.Server) {
	t.Helper()
	dir := t.TempDir()
	// A port below the ephemeral range, so no outgoing connection takes it
	// while the server is down.
	ports, err := testutil.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := ports[0]
	s = StartAt(t, dir, port)
	return s, func() *embednats.Server {
		t.Helper()
		return StartAt(t, dir, port)
	}
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

// Unreachable returns a connection, and its JetStream context, to a port
// nobody listens on for the length of the test (testutil.RefusedAddr), for
// tests of what happens without NATS. The connection keeps retrying every
// 50ms and is closed at cleanup; url is where it tries.
func Unreachable(t testing.TB) (nc *nats.Conn, js jetstream.JetStream, url string) {
	t.Helper()
	url = "nats://" + testutil.RefusedAddr(t)
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatalf("creating JetStream context: %v", err)
	}
	return nc, js, url
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

// ClusterJetStream connects to every server of a cluster StartCluster
// started (so the connection survives losing one) and returns JetStream;
// the connection is closed at cleanup.
func ClusterJetStream(t testing.TB, nodes []*embednats.Server) jetstream.JetStream {
	t.Helper()
	var urls []string
	for _, s := range nodes {
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo("u", "p"))
	if err != nil {
		t.Fatalf("connecting to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("creating JetStream context: %v", err)
	}
	return js
}

// StartCluster starts n clustered servers named n1…nN on loopback, each with
// client user "u"/"p", a random client port and a store in t.TempDir(), in
// the cluster called name. JetStream needs every node to have its routes
// configured when it starts, so the route ports are picked before any node
// starts; another test may take one of them in the meantime, so a start that
// finds its port in use is retried, whole, with fresh ports. Every server is
// shut down at cleanup; shutting one down earlier is fine.
func StartCluster(t testing.TB, n int, name string) []*embednats.Server {
	t.Helper()
	const attempts = 5
	for attempt := 1; ; attempt++ {
		nodes, err := tryStartCluster(t, n, name)
		if err == nil {
			return nodes
		}
		if attempt == attempts || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("starting a %d-node NATS cluster (attempt %d): %v", n, attempt, err)
		}
		t.Logf("starting a %d-node NATS cluster (attempt %d): %v; retrying with fresh ports", n, attempt, err)
	}
}

func tryStartCluster(t testing.TB, n int, name string) ([]*embednats.Server, error) {
	ports, err := testutil.FreePorts(n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var nodes []*embednats.Server
	for i := range n {
		s, err := embednats.StartCluster(embednats.Config{
			DataDir: t.TempDir(), Port: RandomPort, ServerName: fmt.Sprintf("n%d", i+1),
			User: "u", Password: "p", Logger: logger(),
		}, embednats.ClusterConfig{Name: name, Port: ports[i], Routes: routes, User: "route", Password: "route-secret"})
		if err != nil {
			for _, started := range nodes {
				started.Shutdown()
			}
			return nil, fmt.Errorf("node n%d: %w", i+1, err)
		}
		nodes = append(nodes, s)
	}
	for _, s := range nodes {
		t.Cleanup(s.Shutdown)
	}
	return nodes, nil
}
