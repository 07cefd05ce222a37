package embednats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func startCluster(t *testing.T, cfg Config, cl ClusterConfig) *Server {
	t.Helper()
	s, err := StartCluster(cfg, cl)
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// TestClusterReplicatedKV starts three clustered servers on free ports and
// checks that a KV bucket with three replicas survives losing one server.
func TestClusterReplicatedKV(t *testing.T) {
	// JetStream needs every node to have routes configured when it starts,
	// so the route ports are picked before any node starts.
	ports := freePorts(t, 3)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	node := func(i int) *Server {
		return startCluster(t, Config{
			DataDir: t.TempDir(), Port: RandomPort, ServerName: fmt.Sprintf("n%d", i),
			User: "u", Password: "p",
		}, ClusterConfig{Name: "test", Port: ports[i-1], Routes: routes, User: "route", Password: "route-secret"})
	}
	n1, n2, n3 := node(1), node(2), node(3)

	nc, err := nats.Connect(n1.ClientURL()+","+n2.ClientURL()+","+n3.ClientURL(), nats.UserInfo("u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Until the meta leader is elected, JetStream requests get no answer.
	var kv jetstream.KeyValue
	retry(t, ctx, "creating an R3 bucket", func(ctx context.Context) (err error) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "replicated", Replicas: 3})
		return err
	})
	retry(t, ctx, "put", func(ctx context.Context) error {
		_, err := kv.PutString(ctx, "k", "v")
		return err
	})
	n3.Shutdown()
	retry(t, ctx, "put with one server down", func(ctx context.Context) error {
		_, err := kv.PutString(ctx, "k", "v2")
		return err
	})
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v2" {
		t.Fatalf("get with one server down = %v, %v; want v2", e, err)
	}
}

// retry calls f, each time with a 2s timeout, until it succeeds or ctx ends.
func retry(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return
		}
		t.Logf("%s: %v (retrying)", what, err)
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePorts returns n ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
		defer ln.Close()
	}
	return out
}

func TestClusterConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		cl   ClusterConfig
	}{
		{"no name", Config{DataDir: t.TempDir()}, ClusterConfig{}},
		{"bad name", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "a.b"}},
		{"no data dir", Config{}, ClusterConfig{Name: "c"}},
		{"bad route", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "c", Routes: []string{"http://x:6222"}}},
		{"user without password", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "c", User: "u"}},
		{"port out of range", Config{DataDir: t.TempDir()}, ClusterConfig{Name: "c", Port: 70000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Port = RandomPort
			s, err := StartCluster(tc.cfg, tc.cl)
			if err == nil {
				s.Shutdown()
				t.Fatal("StartCluster succeeded; want an error")
			}
			if !errors.Is(err, ErrCluster) {
				t.Fatalf("error %v; want ErrCluster", err)
			}
		})
	}
}

func TestRouteURLs(t *testing.T) {
	cl := ClusterConfig{Routes: []string{" nats://n1:6222", "nats://n2", "", "nats://x:y@n3:7000"}, User: "r", Password: "s"}
	urls, err := cl.routeURLs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range urls {
		got = append(got, u.String())
	}
	want := []string{"nats://r:s@n1:6222", "nats://r:s@n2:6222", "nats://x:y@n3:7000"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routes = %v; want %v", got, want)
	}
}
