// Package testutil holds the small helpers that tests across the project
// share: a buffer safe to read while goroutines write to it, a component
// run in the background for the length of a test, polling for a condition
// with a deadline, retrying a step until a system settles, a check for
// leaked goroutines, and loggers for tests. Its subpackages start the
// credential store (credstest) and a broker (brokertest) for integration
// harnesses.
//
// It is an ordinary package so that tests in any package can import it,
// but only tests do: production code must not import it. It imports
// nothing but the standard library, so that any package's tests can use
// it without an import cycle.
package testutil

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that is safe to write from several goroutines
// and read while they write, as a command's output or a logger's.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Context returns a context that ends after within, or when the test ends.
func Context(t testing.TB, within time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	return ctx
}

// Logger returns a logger at debug level that writes to t.Output(), so its
// lines show with -v or when the test fails.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// LoggerFromEnv returns a logger at debug level that writes to stderr when
// the environment variable env is set to a non-empty value, and nil (which
// the project's components take as "discard") when it is not.
func LoggerFromEnv(env string) *slog.Logger {
	if os.Getenv(env) == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Run calls fn in a goroutine with a context that stop, or else the test's
// cleanup, cancels. Stopping then waits up to within for fn to return, and
// fails the test if fn returned an error (what names it in the message) or
// did not return in time (with every goroutine's stack, to see where it
// hangs). stop may be called more than once; only the first call waits.
func Run(t testing.TB, what string, within time.Duration, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
			case <-time.After(within):
				t.Errorf("%s did not return within %s of its context ending\n%s", what, within, stacks())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// CheckGoroutines records the number of goroutines now and, at cleanup,
// fails the test if more are still running after grace, listing them. Call
// it first in a test, so that its cleanup runs after every other one.
// Goroutines of nats-server itself are not counted: some of its background
// loops (file store flushing, the ATS clock) outlive Shutdown by a moment
// or for good, and they are not this project's to leak.
func CheckGoroutines(t testing.TB, grace time.Duration) {
	t.Helper()
	before, _ := ownGoroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(grace)
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
	var own []string
	for _, g := range strings.Split(stacks(), "\n\n") {
		if strings.TrimSpace(g) == "" || strings.Contains(g, "github.com/nats-io/nats-server/v2/server") {
			continue
		}
		own = append(own, g)
	}
	return len(own), strings.Join(own, "\n\n")
}

// stacks returns the stacks of all goroutines.
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// pollInterval is how often Eventually and EventuallyOK try again.
const pollInterval = 10 * time.Millisecond

// Eventually polls cond until it returns true, and fails the test if that
// takes longer than within. It is for state that announces no change;
// where a channel or an event says when something happened, wait for that
// instead.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pollInterval)
	}
}

// Retry calls f, each time with a context that ends after attempt, until
// it succeeds, logging each failure; if ctx ends first, it fails the test
// with the last error. It is for steps that fail until a system settles,
// as a cluster electing its leaders.
func Retry(t testing.TB, ctx context.Context, what string, attempt time.Duration, f func(context.Context) error) {
	t.Helper()
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
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

// EventuallyOK polls check until it returns "" (all is as wanted), and
// fails the test with the last thing check said if that takes longer than
// within.
func EventuallyOK(t testing.TB, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(pollInterval)
	}
}
