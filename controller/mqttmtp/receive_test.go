package mqttmtp

import (
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/internal/testutil"
	"cuttle/usp"
)

// newOffline returns a client that is never connected, with its handler
// workers running, for tests that feed receive directly.
func newOffline(t *testing.T, handler func(Incoming)) *Client {
	t.Helper()
	c, err := New(Config{Brokers: []string{"mqtt://127.0.0.1:1"}, Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	c.workers.run(&wg)
	t.Cleanup(func() { c.workers.stop(); wg.Wait() })
	return c
}

// rawRecord hand-encodes a Record carrying a Notify, with any version.
func rawRecord(t *testing.T, version, from string) []byte {
	t.Helper()
	payload, err := usp.MarshalMsg("n-"+version, usp.NewNotify("s", false, &usp.Event{ObjPath: "Device.", Name: "Boot!"}))
	if err != nil {
		t.Fatal(err)
	}
	return (&device{eid: from}).record(DefaultEndpointID, version, payload)
}

// TestRecordVersions checks that Records of USP 1.0 to 1.4 are accepted
// and others dropped as malformed.
func TestRecordVersions(t *testing.T) {
	got := make(chan string, 10)
	c := newOffline(t, func(in Incoming) { got <- in.Record.Version })
	for _, v := range []string{"1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "2.0", ""} {
		c.receive(&paho.Publish{Payload: rawRecord(t, v, "self::dev"), Properties: &paho.PublishProperties{ContentType: "usp.msg"}}, time.Now())
	}
	for _, want := range []string{"1.0", "1.1", "1.2", "1.3", "1.4"} {
		select {
		case v := <-got:
			if v != want {
				t.Errorf("handled version %q, want %q", v, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("version %s not handled", want)
		}
	}
	if n := counter(c.metrics.malformed.WithLabelValues("record")); n != 3 {
		t.Errorf("malformed records = %v, want 3 (1.5, 2.0 and no version)", n)
	}
	// Records from the controller's own endpoint ID are not accepted.
	c.receive(&paho.Publish{Payload: rawRecord(t, "1.3", DefaultEndpointID)}, time.Now())
	if n := counter(c.metrics.ignored.WithLabelValues("own_from_id")); n != 1 {
		t.Errorf("own_from_id = %v", n)
	}
}

// TestHandlerPanic checks that a panicking handler does not stop the
// worker: the next Record of the same device is still handled.
func TestHandlerPanic(t *testing.T) {
	got := make(chan string, 2)
	c := newOffline(t, func(in Incoming) {
		if in.Record.Version == "1.2" {
			panic("handler bug")
		}
		got <- in.Record.Version
	})
	c.receive(&paho.Publish{Payload: rawRecord(t, "1.2", "self::dev")}, time.Now())
	c.receive(&paho.Publish{Payload: rawRecord(t, "1.3", "self::dev")}, time.Now())
	select {
	case v := <-got:
		if v != "1.3" {
			t.Errorf("handled %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker stopped after a panic")
	}
}

// TestHandlerQueueFull checks that a stuck handler costs the read loop at
// most handlerWait per Record, which is then dropped and counted.
func TestHandlerQueueFull(t *testing.T) {
	release := make(chan struct{})
	c, err := New(Config{Brokers: []string{"mqtt://127.0.0.1:1"}, HandlerWorkers: 1, HandlerQueue: 1,
		Handler: func(Incoming) { <-release }})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	c.workers.run(&wg)
	defer func() { close(release); c.workers.stop(); wg.Wait() }()

	p := &paho.Publish{Payload: rawRecord(t, "1.3", "self::dev")}
	c.receive(p, time.Now()) // taken by the worker, which blocks
	testutil.Eventually(t, 5*time.Second, "worker busy", func() bool { return len(c.workers.queues[0]) == 0 })
	c.receive(p, time.Now()) // queued
	began := time.Now()
	c.receive(p, time.Now()) // dropped after handlerWait
	if d := time.Since(began); d < handlerWait || d > handlerWait+time.Second {
		t.Errorf("receive blocked %s, want about %s", d, handlerWait)
	}
	if n := counter(c.metrics.dropped); n != 1 {
		t.Errorf("dropped = %v, want 1", n)
	}
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(time.Minute, 3)
	now := time.Now()
	if !l.allow("a", now) || l.allow("a", now.Add(59*time.Second)) || !l.allow("a", now.Add(61*time.Second)) {
		t.Error("want one line per key per minute")
	}
	if !l.allow("b", now) || !l.allow("c", now) {
		t.Error("other keys are independent")
	}
	if !l.allow("d", now) || len(l.last) != 1 {
		t.Errorf("a full limiter forgets its keys: %d left", len(l.last))
	}
}
