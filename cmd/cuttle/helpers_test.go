package main

import (
	"context"
	"errors"
	"io"
	"regexp"
	"testing"
	"time"

	"cuttle/internal/testutil"
)

// runningCommand is a long-running command (`cuttle up`, `sim`, `nats`)
// run in-process until it is stopped or the test ends.
type runningCommand struct {
	t           *testing.T
	name        string
	out, errOut testutil.Buffer
	cancel      context.CancelFunc
	done        chan error
	// ended says that done has delivered err, what the command returned.
	ended bool
	err   error
}

// startCommand runs a command in the background. The test's cleanup stops
// it, and fails the test if it returns an error other than cancellation.
func startCommand(t *testing.T, name string, run func(ctx context.Context, stdout, stderr io.Writer) error) *runningCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &runningCommand{t: t, name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- run(ctx, &c.out, &c.errOut) }()
	t.Cleanup(func() {
		if c.ended {
			return
		}
		if err := c.stop(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", name, err)
		}
	})
	return c
}

// waitOutput waits until the command's stdout matches the regular
// expression re and returns the match with its groups. The test fails if
// the command ends first or nothing matches within timeout.
func (c *runningCommand) waitOutput(re string, timeout time.Duration) []string {
	c.t.Helper()
	match := regexp.MustCompile(re)
	deadline := time.After(timeout)
	for {
		if m := match.FindStringSubmatch(c.out.String()); m != nil {
			return m
		}
		select {
		case err := <-c.done:
			c.ended, c.err = true, err
			c.t.Fatalf("%s ended: %v\nstdout:\n%s\nstderr:\n%s", c.name, err, c.out.String(), c.errOut.String())
		case <-deadline:
			c.t.Fatalf("%s: no %q within %s\nstdout:\n%s\nstderr:\n%s", c.name, re, timeout, c.out.String(), c.errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop cancels the command and returns what it returned; the test fails
// if it does not end within 15 s.
func (c *runningCommand) stop() error {
	c.t.Helper()
	if c.ended {
		return c.err
	}
	c.cancel()
	select {
	case c.err = <-c.done:
	case <-time.After(15 * time.Second):
		c.t.Errorf("%s did not stop within 15 s", c.name)
	}
	c.ended = true
	return c.err
}
