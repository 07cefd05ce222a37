package events

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"
)

func subscribe(t testing.TB, ctx context.Context, l *Log, f Filter) <-chan Event {
	t.Helper()
	ch, err := l.Subscribe(ctx, f)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", f, err)
	}
	return ch
}

// TestSubscribeFilters checks that a live feed starts after Subscribe and
// delivers only what its filter selects, in order.
func TestSubscribeFilters(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	l, _ := newLog(t)
	publish(t, l, dev1, TypeBoot, 0) // before the feeds: not delivered

	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, seqRange(2, 7)},
		{"device", Filter{EndpointID: dev1}, []uint64{2, 4, 6}},
		{"type", Filter{Types: []string{TypeBoot}}, []uint64{3, 6}},
		{"device and types", Filter{EndpointID: dev3, Types: []string{TypeValueChange, TypeBoot}}, []uint64{3, 5}},
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	feeds := make([]<-chan Event, len(tests))
	for i, tt := range tests {
		feeds[i] = subscribe(t, ctx, l, tt.f)
	}
	publish(t, l, dev1, TypeValueChange, 2)
	publish(t, l, dev3, TypeBoot, 3)
	publish(t, l, dev1, TypeEvent, 4)
	publish(t, l, dev3, TypeValueChange, 5)
	publish(t, l, dev1, TypeBoot, 6)
	publish(t, l, dev2, TypeOffline, 7)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := receive(t, feeds[i], len(tt.want))
			if !slices.Equal(ids(got), tt.want) {
				t.Fatalf("IDs %v, want %v", ids(got), tt.want)
			}
			expectNothing(t, feeds[i])
		})
	}

	cancel()
	for i, ch := range feeds {
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatalf("feed %d delivered after cancel", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("feed %d not closed after cancel", i)
		}
	}
}

// TestSubscribeResume replays what a client missed after its Last-Event-ID
// and carries on live.
func TestSubscribeResume(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	l, _ := newLog(t)
	for i := range 5 {
		publish(t, l, dev1, TypeValueChange, i)
		publish(t, l, dev2, TypeValueChange, i)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	ch := subscribe(t, ctx, l, Filter{EndpointID: dev1, AfterID: 5})
	if got := receive(t, ch, 2); !slices.Equal(ids(got), []uint64{7, 9}) {
		t.Fatalf("replayed IDs %v, want [7 9]", ids(got))
	}
	e := publish(t, l, dev1, TypeValueChange, 5)
	if got := receive(t, ch, 1); got[0].ID != e.ID || got[0].Data["value"] != "5" {
		t.Fatalf("live event %+v, want ID %d", got[0], e.ID)
	}

	// Since works as a starting point too.
	ch = subscribe(t, ctx, l, Filter{Since: time.Now().Add(-time.Hour), Types: []string{TypeValueChange}, EndpointID: dev2})
	if got := receive(t, ch, 5); !slices.Equal(ids(got), []uint64{2, 4, 6, 8, 10}) {
		t.Fatalf("since: IDs %v", ids(got))
	}
	cancel()
}

func TestSubscribeErrors(t *testing.T) {
	l, _ := newLog(t)
	for _, f := range []Filter{{Desc: true}, {BeforeID: 3}, {Types: []string{"a b"}}} {
		if _, err := l.Subscribe(testCtx(t), f); !errors.Is(err, ErrInvalid) {
			t.Errorf("Subscribe(%+v) = %v, want ErrInvalid", f, err)
		}
	}
}

// TestSlowSubscriber has one subscriber that reads nothing while events
// flow: publishing and the other subscriber carry on at full speed, and the
// slow one still gets every event, in order, when it reads.
func TestSlowSubscriber(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	_, js := natstest.JetStream(t, natstest.Start(t))
	l := openLog(t, Config{JetStream: js, SubscriberBuffer: 8})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	slow := subscribe(t, ctx, l, Filter{})
	fast := subscribe(t, ctx, l, Filter{})

	const n = 300
	done := make(chan []Event)
	go func() {
		// Not receive: t.Fatal must not be called from this goroutine.
		var got []Event
		for e := range fast {
			if got = append(got, e); len(got) == n {
				break
			}
		}
		done <- got
	}()
	start := time.Now()
	for i := range n {
		publish(t, l, dev1, TypeValueChange, i)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("publishing with a stalled subscriber took %s", d)
	}
	select {
	case got := <-done:
		if !slices.Equal(ids(got), seqRange(1, n)) {
			t.Fatalf("fast subscriber got %v", ids(got))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("fast subscriber stalled behind the slow one")
	}

	if got := receive(t, slow, n); !slices.Equal(ids(got), seqRange(1, n)) {
		t.Fatalf("slow subscriber got %v", ids(got))
	}
	cancel()
}

// TestSubscribeSurvivesRestart restarts the NATS server under a live feed,
// which loses its consumer: the feed makes a new one and goes on.
func TestSubscribeSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a server")
	}
	srv, restart := natstest.StartRestartable(t)
	_, js := natstest.JetStream(t, srv)
	l := openLog(t, Config{JetStream: js})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	ch := subscribe(t, ctx, l, Filter{EndpointID: dev1})
	publish(t, l, dev1, TypeValueChange, 0)
	receive(t, ch, 1)

	srv.Shutdown()
	restart()
	// The client reconnects on its own; publish once it has.
	var e Event
	for deadline := time.Now().Add(20 * time.Second); ; {
		var err error
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		e, err = l.Publish(pctx, Event{EndpointID: dev1, Type: TypeBoot})
		pcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := receive(t, ch, 1)
	if got[0].ID != e.ID || got[0].Type != TypeBoot {
		t.Fatalf("after restart got %+v, want ID %d", got[0], e.ID)
	}
}
