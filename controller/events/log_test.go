package events

import (
	"errors"
	"slices"
	"testing"
	"time"

	"cuttle/internal/natstest"
)

func TestOpenLimits(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	ctx := testCtx(t)

	streamConfig := func() (maxBytes int64, maxAge time.Duration, replicas int, subjects []string) {
		t.Helper()
		s, err := js.Stream(ctx, DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		c := s.CachedInfo().Config
		return c.MaxBytes, c.MaxAge, c.Replicas, c.Subjects
	}

	openLog(t, Config{JetStream: js})
	b, a, r, subj := streamConfig()
	if b != DefaultMaxBytes || a != DefaultMaxAge || r != 1 || !slices.Equal(subj, []string{"cuttle.events.>"}) {
		t.Fatalf("new stream: max_bytes %d, max_age %s, replicas %d, subjects %v", b, a, r, subj)
	}

	// Explicit limits replace the stream's.
	openLog(t, Config{JetStream: js, MaxBytes: 2 << 30, MaxAge: 30 * 24 * time.Hour})
	if b, a, _, _ := streamConfig(); b != 2<<30 || a != 30*24*time.Hour {
		t.Fatalf("after explicit limits: max_bytes %d, max_age %s", b, a)
	}

	// Defaults leave them alone: a tool opening the log must not shrink it.
	openLog(t, Config{JetStream: js})
	if b, a, r, _ := streamConfig(); b != 2<<30 || a != 30*24*time.Hour || r != 1 {
		t.Fatalf("after reopening with defaults: max_bytes %d, max_age %s, replicas %d", b, a, r)
	}

	openLog(t, Config{JetStream: js, MaxBytes: -1})
	if b, _, _, _ := streamConfig(); b != -1 {
		t.Fatalf("MaxBytes -1 gave max_bytes %d, want unlimited", b)
	}
}

func TestConfigErrors(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no JetStream", Config{}},
		{"negative age", Config{JetStream: js, MaxAge: -time.Second}},
		{"negative replicas", Config{JetStream: js, Replicas: -1}},
		{"wildcard prefix", Config{JetStream: js, Subject: "cuttle.*"}},
		{"empty token", Config{JetStream: js, Subject: "cuttle..events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(testCtx(t), tt.cfg); err == nil {
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestPublish(t *testing.T) {
	l, js := newLog(t)
	ctx := testCtx(t)
	before := time.Now()
	e, err := l.Publish(ctx, Event{ID: 99, EndpointID: dev3, Type: TypeValueChange, Path: "Device.X", Data: map[string]string{"value": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != 1 || e.Time.Before(before) || e.Time.After(time.Now()) {
		t.Fatalf("Publish returned ID %d, time %v", e.ID, e.Time)
	}
	// The subject carries the escaped endpoint ID as one token.
	s, err := js.Stream(ctx, DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cuttle.events.value_change.proto=3A=3Aweird=2Eid=2Awith=3Espace=20s"; m.Subject != want {
		t.Fatalf("subject %q, want %q", m.Subject, want)
	}
	got := query(t, l, Filter{EndpointID: dev3})
	if len(got) != 1 || got[0].ID != 1 || got[0].Path != "Device.X" || got[0].Data["value"] != "1" || !got[0].Time.Equal(e.Time) {
		t.Fatalf("Query = %+v, want %+v", got, e)
	}

	// A given time is kept.
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err = l.Publish(ctx, Event{EndpointID: dev1, Type: TypeBoot, Time: at})
	if err != nil || !e.Time.Equal(at) || e.ID != 2 {
		t.Fatalf("Publish with time: %+v, %v", e, err)
	}

	bad := []Event{
		{Type: TypeBoot},
		{EndpointID: dev1},
		{EndpointID: dev1, Type: "a.b"},
		{EndpointID: dev1, Type: "*"},
		{EndpointID: string(make([]byte, MaxEndpointIDLen+1)), Type: TypeBoot},
	}
	for _, e := range bad {
		if _, err := l.Publish(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%q, %q) = %v, want ErrInvalid", e.EndpointID, e.Type, err)
		}
	}
}

// TestSurvivesRestart stops the NATS server and starts it again on the same
// store: the stream, its limits and its events are all still there, and a
// log opened with defaults finds them.
func TestSurvivesRestart(t *testing.T) {
	srv, restart := natstest.StartRestartable(t)
	_, js := natstest.JetStream(t, srv)
	l := openLog(t, Config{JetStream: js, MaxAge: 48 * time.Hour})
	for i := range 5 {
		publish(t, l, dev1, TypeValueChange, i)
	}

	srv.Shutdown()
	srv = restart()
	_, js = natstest.JetStream(t, srv)
	l = openLog(t, Config{JetStream: js})
	got := query(t, l, Filter{EndpointID: dev1})
	if !slices.Equal(ids(got), seqRange(1, 5)) {
		t.Fatalf("after restart: IDs %v", ids(got))
	}
	info := l.stream.CachedInfo()
	if info.Config.MaxAge != 48*time.Hour {
		t.Fatalf("after restart: max_age %s", info.Config.MaxAge)
	}
	if e := publish(t, l, dev1, TypeValueChange, 5); e.ID != 6 {
		t.Fatalf("next ID %d, want 6", e.ID)
	}
}
