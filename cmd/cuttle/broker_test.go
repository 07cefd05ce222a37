package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBrokerNATSUnavailable: with no NATS at the given address the broker
// refuses to start, quickly, with an error that says so.
func TestBrokerNATSUnavailable(t *testing.T) {
	start := time.Now()
	err := runBroker(context.Background(), []string{"--nats", "nats://127.0.0.1:1", "--mqtt-addr", "127.0.0.1:0", "--broker-http-addr", ""}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "connecting to NATS at nats://127.0.0.1:1") {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v to fail", took)
	}
}

func TestBrokerBadOption(t *testing.T) {
	err := runBroker(context.Background(), []string{"--max-connections", "lots"}, &bytes.Buffer{})
	if !errors.Is(err, errUsage) {
		t.Errorf("err = %v, want a usage error", err)
	}
}
