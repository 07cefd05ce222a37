package embednats

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t *testing.T, s *Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := s.Connect(opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func putGet(t *testing.T, nc *nats.Conn, bucket, key, value string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
	if err != nil {
		t.Fatalf("creating bucket: %v", err)
	}
	if value != "" {
		if _, err := kv.PutString(ctx, key, value); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	e, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return string(e.Value())
}

func TestStartJetStream(t *testing.T) {
	s := start(t, Config{Port: RandomPort, DataDir: t.TempDir()})
	if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(s.ClientURL(), ":-1") {
		t.Fatalf("ClientURL = %q, want a loopback URL with the chosen port", s.ClientURL())
	}
	nc := connect(t, s)
	if got := putGet(t, nc, "b", "k", "v"); got != "v" {
		t.Fatalf("got %q, want v", got)
	}
}

func TestAuthRequired(t *testing.T) {
	s := start(t, Config{Port: RandomPort, User: "cuttle", Password: "s3cret-s3cret"})
	connect(t, s) // with the configured credentials

	_, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connect: err = %v, want %v", err, nats.ErrAuthorization)
	}
	_, err = nats.Connect(s.ClientURL(), nats.UserInfo("cuttle", "wrong"), nats.MaxReconnects(0))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong password: err = %v, want %v", err, nats.ErrAuthorization)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]Config{
		"user without password": {Port: RandomPort, User: "u"},
		"password without user": {Port: RandomPort, Password: "p"},
		"port out of range":     {Port: 70000},
		"negative port":         {Port: -2},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Start(cfg)
			if err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestPortInUseFailsFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	begin := time.Now()
	s, err := Start(Config{Port: port, StartTimeout: 10 * time.Second})
	if err == nil {
		s.Shutdown()
		t.Fatal("Start succeeded on a port in use")
	}
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v, want ErrStart naming the address in use", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Start took %s to fail, want well under its StartTimeout", d)
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := start(t, Config{Port: RandomPort, DataDir: dir})
	putGet(t, connect(t, s), "b", "k", "kept")
	s.Shutdown()
	s.Shutdown() // idempotent

	s2 := start(t, Config{Port: RandomPort, DataDir: dir})
	if got := putGet(t, connect(t, s2), "b", "k", ""); got != "kept" {
		t.Fatalf("after restart got %q, want kept", got)
	}
}

func TestTempDirRemoved(t *testing.T) {
	s := start(t, Config{Port: RandomPort})
	if s.tempDir == "" {
		t.Fatal("no temporary directory was created")
	}
	if _, err := os.Stat(s.tempDir); err != nil {
		t.Fatalf("temporary store missing while running: %v", err)
	}
	s.Shutdown()
	if _, err := os.Stat(s.tempDir); !os.IsNotExist(err) {
		t.Fatalf("temporary store %s still exists after Shutdown (err %v)", s.tempDir, err)
	}
}

func TestLogsToSlog(t *testing.T) {
	var out testutil.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := start(t, Config{Port: RandomPort, Logger: log})
	s.Shutdown()
	text := out.String()
	for _, want := range []string{
		`level=INFO msg="embedded NATS ready" component=embednats`,
		`level=DEBUG msg="Starting nats-server" component=embednats`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := Start(Config{Port: RandomPort})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := s.Connect()
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
		s.Shutdown()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
