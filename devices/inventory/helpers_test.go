package inventory

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"
)

// seenDeadline is how quickly a write must reach another replica's index.
const seenDeadline = time.Second

func testCtx(t testing.TB) context.Context { return testutil.Context(t, 30*time.Second) }

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
	inv, err := Open(testCtx(t), Config{JetStream: js, LoadTimeout: 2 * time.Second, Logger: testutil.Logger(t)})
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
	testutil.Run(t, "Run", 5*time.Second, fn)
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

// ids returns the endpoint IDs of devices, in order.
func ids(ds []Device) []string {
	out := make([]string, len(ds))
	for n, d := range ds {
		out[n] = d.EndpointID
	}
	return out
}
