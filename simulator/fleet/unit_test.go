package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/simulator/agent"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"200", 200, true}, {"200/s", 200, true}, {" 50 / s ", 50, true}, {"600/m", 10, true}, {"3600/h", 1, true},
		{"0.5/s", 0.5, true}, {"", 0, false}, {"0", 0, false}, {"-3", 0, false}, {"fast", 0, false}, {"10/d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	base, limit := time.Second, time.Minute
	for failures, ceiling := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 6: 32 * time.Second, 7: time.Minute, 100: time.Minute} {
		var top time.Duration
		for range 2000 {
			d := backoff(failures, base, limit)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", failures, d, ceiling)
			}
			top = max(top, d)
		}
		if top < ceiling*8/10 {
			t.Errorf("backoff(%d) never came near %v (max %v): no full jitter", failures, ceiling, top)
		}
	}
}

func TestPacer(t *testing.T) {
	p := newPacer(100)
	start := time.Now()
	for range 21 {
		if err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 190*time.Millisecond || took > time.Second {
		t.Errorf("21 slots at 100/s took %v, want about 200ms", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx); err == nil {
		t.Error("wait with a cancelled context succeeded")
	}
}

func TestConfigErrors(t *testing.T) {
	dev := []DeviceConfig{{EndpointID: "proto::a"}}
	broker := []string{"mqtt://127.0.0.1:1883"}
	tests := []struct {
		name, field string
		cfg         Config
	}{
		{"no broker", "brokers", Config{Devices: dev}},
		{"bad scheme", "brokers[0]", Config{Devices: dev, Brokers: []string{"http://x"}}},
		{"no host", "brokers[0]", Config{Devices: dev, Brokers: []string{"mqtt://"}}},
		{"no devices", "devices", Config{Brokers: broker}},
		{"device without ID", "devices[1]", Config{Brokers: broker, Devices: []DeviceConfig{{EndpointID: "proto::a"}, {}}}},
		{"device twice", "devices[1]", Config{Brokers: broker, Devices: []DeviceConfig{{EndpointID: "proto::a"}, {EndpointID: "proto::a"}}}},
		{"controller without ID", "controllers[0]", Config{Brokers: broker, Devices: dev, Controllers: []agent.Controller{{Topic: "x"}}}},
		{"qos 2", "qos", Config{Brokers: broker, Devices: dev, QoS: new(byte(2))}},
		{"wildcard topic", "response_topic", Config{Brokers: broker, Devices: dev, ResponseTopic: "usp/+/{eid}"}},
		{"negative rate", "rate", Config{Brokers: broker, Devices: dev, Rate: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.field+":") {
				t.Fatalf("New: %v, want ErrConfig naming %s", err, tt.field)
			}
		})
	}
	f, err := New(Config{Brokers: broker, Devices: dev})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.cfg.Controllers; len(got) != 1 || got[0].EndpointID != DefaultController || got[0].Topic != "usp/v1/controller/"+DefaultController {
		t.Errorf("default controllers %+v", got)
	}
	if f.Agent("proto::a") == nil || f.Agent("proto::b") != nil {
		t.Error("Agent lookup")
	}
}

func TestStatsAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f, err := New(Config{Brokers: []string{"mqtt://127.0.0.1:1"}, Devices: []DeviceConfig{{EndpointID: "proto::a"}, {EndpointID: "proto::b"}}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	f.stats.ignore(ignoredToID)
	f.stats.setLastError("dial tcp: refused")
	s := f.Stats()
	if s.Devices != 2 || s.Connecting != 2 || s.Ignored() != 1 {
		t.Errorf("stats %+v", s)
	}
	line := s.String()
	for _, want := range []string{"connected 0/2", "connecting 2", "ignored 1", "last error: dial tcp: refused"} {
		if !strings.Contains(line, want) {
			t.Errorf("status line %q lacks %q", line, want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		found[mf.GetName()] = true
	}
	for _, name := range []string{"cuttle_sim_devices", "cuttle_sim_connect_attempts_total", "cuttle_sim_records_ignored_total", "cuttle_sim_notifications_total"} {
		if !found[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	if err := f.Run(canceled()); err != nil {
		t.Fatal(err)
	}
	if err := f.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
