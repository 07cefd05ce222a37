package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"cuttle/internal/natstest"
	"cuttle/internal/options"
	"cuttle/internal/testutil"
)

// TestReplicasOnCluster runs the broker's and the controller's start-up on a
// 3-node NATS cluster: with --replicas 3 every bucket and stream they use
// gets 3 replicas, and a broker started later with the default (0) leaves
// them at 3 rather than shrinking the presence bucket.
func TestReplicasOnCluster(t *testing.T) {
	js := startTestCluster(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	startBrokerWith := func(args ...string) {
		t.Helper()
		var f brokerFlags
		set := options.New("broker", io.Discard)
		f.define(set)
		if err := set.Parse(append(args, "--mqtt-addr", "127.0.0.1:0", "--broker-http-addr", ""), func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		// Until the cluster has a meta leader, JetStream requests fail.
		testutil.Retry(t, ctx, "broker start-up", 5*time.Second, func(ctx context.Context) error {
			_, _, err := f.startBroker(ctx, js, log)
			return err
		})
	}
	startBrokerWith("--replicas", "3")
	startBrokerWith() // the default must not shrink anything

	var f controllerFlags
	set := options.New("controller", io.Discard)
	f.define(set, false)
	if err := set.Parse([]string{"--replicas", "3", "--broker", "mqtt://127.0.0.1:1", "--controller-password", "x",
		"--http-addr", "127.0.0.1:0", "--data", t.TempDir()}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	var run func(g *errgroup.Group, ctx context.Context)
	testutil.Retry(t, ctx, "controller start-up", 5*time.Second, func(ctx context.Context) (err error) {
		_, run, err = f.startController(ctx, js, log, io.Discard)
		return err
	})
	// Run with an ended context only to close what start-up opened.
	done, stop := context.WithCancel(ctx)
	stop()
	g, gctx := errgroup.WithContext(done)
	run(g, gctx)
	_ = g.Wait()

	want := []string{"KV_cuttle-credentials", "KV_cuttle-revoked-certs", "KV_cuttle-presence",
		"KV_cuttle-devices", "cuttle-events", "KV_cuttle-tokens", "cuttle-audit", "KV_cuttle-jobs", "KV_cuttle-job-results"}
	for _, name := range want {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, r)
		}
	}
}

func TestReplicasOutOfRange(t *testing.T) {
	var f brokerFlags
	set := options.New("broker", io.Discard)
	f.define(set)
	if err := set.Parse([]string{"--replicas", "7"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	// The check comes before any use of NATS.
	_, _, err := f.startBroker(context.Background(), nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "replicas must be between 0 and 5") {
		t.Fatalf("--replicas 7: %v", err)
	}
}

// startTestCluster starts three clustered NATS servers on loopback and
// returns JetStream through a connection to all of them.
func startTestCluster(t *testing.T) jetstream.JetStream {
	t.Helper()
	return natstest.ClusterJetStream(t, natstest.StartCluster(t, 3, "replicas-test"))
}
