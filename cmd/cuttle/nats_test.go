package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go"
)

// startNATSCommand runs `cuttle nats` with args and returns its client URL
// once it has said it is ready.
func startNATSCommand(t *testing.T, args ...string) string {
	t.Helper()
	cmd := startCommand(t, "cuttle nats", func(ctx context.Context, stdout, _ io.Writer) error {
		return runNATS(ctx, args, stdout)
	})
	t.Cleanup(func() {
		if err := cmd.stop(); err != nil {
			t.Errorf("cuttle nats: %v", err)
		}
	})
	return cmd.waitOutput(`ready on (nats://\S+)`, 10*time.Second)[1]
}

func TestNATSCommandServesJetStream(t *testing.T) {
	url := startNATSCommand(t, "--data", t.TempDir(), "--addr", "127.0.0.1:0",
		"--nats-user", "u", "--nats-password", "p", "--server-name", "t1", "--log-level", "error")
	if _, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
		t.Error("connected without credentials")
	}
	var out strings.Builder
	if err := runHealth(context.Background(), []string{"--nats-user", "u", "--nats-password", "p", url}, &out); err != nil {
		t.Fatalf("health: %v", err)
	}
}

// TestNATSCommandCluster starts a cluster member: it serves clients and
// listens for routes on --cluster-addr. (embednats tests a 3-node cluster's
// replicated JetStream.)
func TestNATSCommandCluster(t *testing.T) {
	// The command must be told its route port; one below the ephemeral
	// range stays free until it binds it. The other route leads nowhere.
	ports, err := testutil.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ports[0])
	url := startNATSCommand(t, "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--server-name", "c1",
		"--cluster-name", "test", "--cluster-addr", "127.0.0.1:"+port,
		"--routes", "nats://127.0.0.1:"+port+",nats://"+testutil.RefusedAddr(t), "--log-level", "error")
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
	if err != nil {
		t.Fatalf("route port: %v", err)
	}
	c.Close()
}

func TestNATSCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"network without auth", []string{"--addr", "0.0.0.0:0"}},
		{"routes without cluster name", []string{"--addr", "127.0.0.1:0", "--routes", "nats://a:6222"}},
		{"bad addr", []string{"--addr", "4222"}},
		{"bad cluster addr", []string{"--addr", "127.0.0.1:0", "--cluster-name", "c", "--cluster-addr", "x"}},
		{"argument", []string{"extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--data", t.TempDir()}, tc.args...)
			err := runNATS(context.Background(), args, &strings.Builder{})
			if !errors.Is(err, errUsage) {
				t.Fatalf("err = %v; want a usage error", err)
			}
		})
	}
}
