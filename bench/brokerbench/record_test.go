package main

import (
	"errors"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/usp"
)

func TestStampedRoundTrip(t *testing.T) {
	for _, fanIn := range []bool{true, false} {
		from, to := deviceID(7), controllerID
		if !fanIn {
			from, to = to, from
		}
		s, err := newStamped(from, to, 3, 7, 42, fanIn)
		if err != nil {
			t.Fatal(err)
		}
		sent := time.Unix(0, 1_763_765_432_123_456_789)
		payload := s.stamp(sent)
		// The broker's trusted-broker check reads only the header.
		hdr, err := usp.PeekRecord(payload)
		if err != nil || hdr.FromID != from || hdr.ToID != to {
			t.Fatalf("fanIn %v: PeekRecord = %+v, %v", fanIn, hdr, err)
		}
		got, err := parseStamped(payload)
		if err != nil {
			t.Fatalf("fanIn %v: %v", fanIn, err)
		}
		want := received{run: 3, dev: 7, seq: 42, sent: sent, fromID: from}
		if got.run != want.run || got.dev != want.dev || got.seq != want.seq || !got.sent.Equal(want.sent) || got.fromID != want.fromID {
			t.Errorf("fanIn %v: parsed %+v, want %+v", fanIn, got, want)
		}
	}
}

func TestParseStampedRejectsForeignRecords(t *testing.T) {
	rec, err := usp.NewMsgRecord(deviceID(1), controllerID, "not-ours", usp.NewGet(0, "Device."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseStamped(b); !errors.Is(err, errNotBench) {
		t.Errorf("foreign msg_id: err = %v, want errNotBench", err)
	}
	if _, err := parseStamped([]byte("not a record")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestTally(t *testing.T) {
	tl := newTally(2, 2, 3)
	add := func(run, dev, seq int, lat time.Duration) {
		s, err := newStamped(deviceID(dev), controllerID, run, dev, seq, true)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tl.add(&paho.Publish{Payload: s.stamp(now.Add(-lat))}, now, -1)
	}
	add(2, 0, 0, time.Millisecond)
	add(2, 0, 0, time.Millisecond) // duplicate
	add(2, 1, 2, 3*time.Millisecond)
	add(1, 1, 1, time.Millisecond) // an earlier run's
	r := tl.result()
	if r.unique != 2 || r.dups != 1 || r.stale != 1 || r.invalid != 0 {
		t.Fatalf("tally = %+v", r)
	}
	if r.p50 != time.Millisecond || r.p99 != 3*time.Millisecond {
		t.Errorf("p50 %v p99 %v, want 1ms and 3ms", r.p50, r.p99)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%d = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty percentile not 0")
	}
}

// BenchmarkReceive is what the harness spends per delivery at a receiver
// (full Record and Msg decode), so its share of a run's CPU is known.
func BenchmarkReceive(b *testing.B) {
	s, err := newStamped(deviceID(1), controllerID, 1, 1, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	payload := s.stamp(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseStamped(payload); err != nil {
			b.Fatal(err)
		}
	}
}
