package events

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	dev1 = "os::012345-0001"
	dev2 = "os::012345-0002"
	dev3 = "proto::weird.id*with>space s"
)

func testCtx(t testing.TB) context.Context { return testutil.Context(t, 60*time.Second) }

func openLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// newLog starts a NATS server and opens a log with default settings.
func newLog(t testing.TB) (*Log, jetstream.JetStream) {
	t.Helper()
	_, js := natstest.JetStream(t, natstest.Start(t))
	return openLog(t, Config{JetStream: js}), js
}

func publish(t testing.TB, l *Log, endpointID, typ string, n int) Event {
	t.Helper()
	e, err := l.Publish(testCtx(t), Event{
		EndpointID: endpointID,
		Type:       typ,
		Path:       "Device.DeviceInfo.UpTime",
		Data:       map[string]string{"value": fmt.Sprint(n)},
	})
	if err != nil {
		t.Fatalf("Publish(%s, %s): %v", endpointID, typ, err)
	}
	return e
}

// publishMany publishes quickly with async acknowledgements, for tests
// that need a large stream, and waits until the stream has them all.
func publishMany(t testing.TB, l *Log, js jetstream.JetStream, endpointID, typ string, n int) {
	t.Helper()
	body := fmt.Appendf(nil, `{"time":%q,"endpoint_id":%q,"type":%q}`, time.Now().UTC().Format(time.RFC3339Nano), endpointID, typ)
	subject := l.subject(typ, endpointID)
	const chunk = 1000 // nats.go allows 4000 unacknowledged by default
	for i := 0; i < n; i += chunk {
		for range min(chunk, n-i) {
			if _, err := js.PublishAsync(subject, body); err != nil {
				t.Fatalf("PublishAsync: %v", err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-testCtx(t).Done():
			t.Fatal("async publishes not acknowledged")
		}
	}
}

func query(t testing.TB, l *Log, f Filter) []Event {
	t.Helper()
	got, err := l.Query(testCtx(t), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return got
}

func ids(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// seqRange returns from, from+step, ... while within [min(from,to), max(from,to)].
func seqRange(from, to uint64) []uint64 {
	var out []uint64
	if from <= to {
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	for i := from; i >= to && i > 0; i-- {
		out = append(out, i)
	}
	return out
}

// receive reads n events from ch within the test's deadline.
func receive(t testing.TB, ch <-chan Event, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("feed closed after %d of %d events", len(out), n)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("received %d of %d events", len(out), n)
		}
	}
	return out
}

// expectNothing checks that ch delivers nothing for a short while.
func expectNothing(t testing.TB, ch <-chan Event) {
	t.Helper()
	select {
	case e, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %+v", e)
		}
		t.Fatal("feed closed unexpectedly")
	case <-time.After(200 * time.Millisecond):
	}
}
