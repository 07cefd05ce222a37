package inventory

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/natstest"
)

// seenDeadline is how quickly a write must reach another replica's index.
const seenDeadline = time.Second

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs through t.Log, so output shows with -v or on failure.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newJS starts an embedded NATS server and connects to it.
func newJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := natstest.JetStream(t, natstest.Start(t))
	return js
}

// twoConns starts an embedded NATS server and makes two connections to
// it, as two controller replicas would.
func twoConns(t testing.TB) (jetstream.JetStream, jetstream.JetStream) {
	t.Helper()
	srv := natstest.Start(t)
	_, js1 := natstest.JetStream(t, srv)
	_, js2 := natstest.JetStream(t, srv)
	return js1, js2
}

// open opens an inventory and runs it until cleanup, checking that Run
// returns nil promptly when its context ends.
func open(t testing.TB, js jetstream.JetStream) *Inventory {
	t.Helper()
	inv, err := Open(testCtx(t), Config{JetStream: js, LoadTimeout: 2 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	run(t, func(ctx context.Context) error { return inv.Run(ctx) })
	return inv
}

// run calls fn in a goroutine until cleanup, then checks that it returned
// nil within 5 s of its context ending.
func run(t testing.TB, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Errorf("Run did not return after its context ended\n%s", buf[:runtime.Stack(buf, true)])
		}
	})
}

// put creates or changes a device, failing the test on error.
func put(t testing.TB, inv *Inventory, eid string, fn func(d *Device)) Device {
	t.Helper()
	d, err := inv.Update(testCtx(t), eid, func(d *Device) error {
		fn(d)
		return nil
	})
	if err != nil {
		t.Fatalf("Update(%s): %v", eid, err)
	}
	return d
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ids returns the endpoint IDs of devices, in order.
func ids(ds []Device) []string {
	out := make([]string, len(ds))
	for n, d := range ds {
		out[n] = d.EndpointID
	}
	return out
}
