package kvwatch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/natstest"
)

// TestReadAllUnderWrites: ReadAll returns every key, even one being
// written while it reads (a token whose last use is recorded as it is
// listed). Relying on the watch's end-of-initial-values marker alone left
// that key out of about 1 read in 100.
func TestReadAllUnderWrites(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.JetStream(t, s)
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "readall"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := kv.PutString(ctx, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "k5"); err != nil { // deleted keys are left out
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load() && i < 100_000; i++ {
			_, _ = kv.PutString(context.Background(), "k2", fmt.Sprint(i))
			time.Sleep(200 * time.Microsecond)
		}
	})
	defer func() { stop.Store(true); wg.Wait() }()

	const reads = 300
	for i := range reads {
		var keys []string
		if err := ReadAll(ctx, kv, func(e jetstream.KeyValueEntry) { keys = append(keys, e.Key()) }); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 5 {
			t.Fatalf("read %d of %d: keys %v, want k0 to k4", i+1, reads, keys)
		}
	}
}
