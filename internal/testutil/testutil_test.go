package testutil

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Fatalf("len = %d, want 800", got)
	}
}

func TestRunStopsAtCleanupAndOnStop(t *testing.T) {
	var stopped atomic.Int32
	body := func(ctx context.Context) error {
		<-ctx.Done()
		stopped.Add(1)
		return nil
	}
	t.Run("cleanup", func(t *testing.T) {
		Run(t, "component", time.Second, body)
	})
	if stopped.Load() != 1 {
		t.Fatalf("after the subtest's cleanup %d components stopped, want 1", stopped.Load())
	}
	stop := Run(t, "component", time.Second, body)
	stop()
	stop()
	if stopped.Load() != 2 {
		t.Fatalf("after stop %d components stopped, want 2", stopped.Load())
	}
}

func TestEventually(t *testing.T) {
	var n int
	Eventually(t, time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
	var last string
	EventuallyOK(t, time.Second, func() string {
		if last == "" {
			last = "not yet"
			return last
		}
		return ""
	})
	if last != "not yet" {
		t.Fatalf("check was not called again after it failed once")
	}
}

func TestContextEnds(t *testing.T) {
	ctx := Context(t, 10*time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("context did not end")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want a deadline error", ctx.Err())
	}
}
