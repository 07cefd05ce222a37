package agent

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/simulator/profile"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// The test Controllers every harness agent knows.
const (
	ctrlA = "self::ctrl-a"
	ctrlB = "self::ctrl-b"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a Clock that only moves when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// sent is one message the agent handed to its outbox.
type sent struct {
	to  string
	msg usp.Message
}

type harness struct {
	t     *testing.T
	a     *Agent
	clock *fakeClock
	mu    sync.Mutex
	out   []sent
}

// newHarness starts an agent for the built-in profile (default
// home-gateway) with two Controllers, a fake clock and a recording outbox.
func newHarness(t *testing.T, profileName ...string) *harness {
	t.Helper()
	name := profile.DefaultName
	if len(profileName) > 0 {
		name = profileName[0]
	}
	p, err := profile.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clock: &fakeClock{t: epoch}}
	h.a, err = New(Config{
		EndpointID:  p.EndpointID(1),
		Profile:     p,
		Index:       1,
		Seed:        42,
		Controllers: []Controller{{EndpointID: ctrlA, Topic: "usp/v1/controller/a"}, {EndpointID: ctrlB, Topic: "usp/v1/controller/b"}},
		Clock:       h.clock,
		Outbox: func(to string, m usp.Message) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.out = append(h.out, sent{to, m})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// do sends body from a Controller and returns the reply.
func (h *harness) do(from string, body usp.Body) usp.Body {
	h.t.Helper()
	return h.a.Handle(from, usp.Message{ID: usp.NewMsgID(), Body: body})
}

// take returns and forgets what the outbox got.
func (h *harness) take() []sent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.out
	h.out = nil
	return out
}

// notifies returns the Notify bodies the outbox got, forgetting them.
func (h *harness) notifies() []*usp.Notify {
	var out []*usp.Notify
	for _, s := range h.take() {
		out = append(out, s.msg.Body.(*usp.Notify))
	}
	return out
}

// tick advances the clock by d and ticks the agent.
func (h *harness) tick(d time.Duration) {
	h.a.Tick(h.clock.advance(d))
}

func (h *harness) get(maxDepth uint32, paths ...string) *usp.GetResp {
	h.t.Helper()
	resp, ok := h.do(ctrlA, usp.NewGet(maxDepth, paths...)).(*usp.GetResp)
	if !ok {
		h.t.Fatalf("Get %v: not a GetResp", paths)
	}
	return resp
}

// value reads one parameter, failing the test if it cannot.
func (h *harness) value(param string) string {
	h.t.Helper()
	resp := h.get(0, param)
	if err := resp.Err(); err != nil {
		h.t.Fatalf("Get %s: %v", param, err)
	}
	vals := resp.Values()
	v, ok := vals[param]
	if !ok || len(vals) != 1 {
		h.t.Fatalf("Get %s: got %v", param, vals)
	}
	return v
}

// set sets one parameter with allow_partial=false, failing on any error.
func (h *harness) set(obj, param, value string) {
	h.t.Helper()
	reply := h.do(ctrlA, usp.NewSet(false, usp.SetObject{Path: obj, Params: []usp.Param{{Name: param, Value: value, Required: true}}}))
	if resp, ok := reply.(*usp.SetResp); !ok || resp.Err() != nil {
		h.t.Fatalf("Set %s%s=%s: %#v", obj, param, value, reply)
	}
}

// subscribe creates an enabled subscription for from and returns its
// instance path.
func (h *harness) subscribe(from, id, notifType, refs string, more ...usp.Param) string {
	h.t.Helper()
	params := append([]usp.Param{
		{Name: "Enable", Value: "true"}, {Name: "ID", Value: id},
		{Name: "NotifType", Value: notifType}, {Name: "ReferenceList", Value: refs},
	}, more...)
	reply := h.do(from, usp.NewAdd(false, usp.AddObject{Path: "Device.LocalAgent.Subscription.", Params: params}))
	resp, ok := reply.(*usp.AddResp)
	if !ok || resp.Err() != nil || len(resp.Results) != 1 || len(resp.Results[0].ParamErrs) > 0 {
		h.t.Fatalf("subscribe %s %s %s: %#v", id, notifType, refs, reply)
	}
	h.take() // the subscription's own creation is not what tests look at
	return resp.Results[0].InstantiatedPath
}

// errCode returns the code of an *usp.ErrorMsg reply, or 0.
func errCode(reply usp.Body) usperr.Code {
	if e, ok := reply.(*usp.ErrorMsg); ok {
		return e.Err.Code
	}
	return 0
}

// codeOf returns the code of a *usperr.Error, or 0 for nil.
func codeOf(e *usperr.Error) usperr.Code {
	if e == nil {
		return 0
	}
	return e.Code
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no endpoint", Config{}},
		{"controller without endpoint", Config{EndpointID: "x", Controllers: []Controller{{}}}},
		{"controller twice", Config{EndpointID: "x", Controllers: []Controller{{EndpointID: "c"}, {EndpointID: "c"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
	a, err := New(Config{EndpointID: "proto::defaults"})
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	if a.EndpointID() != "proto::defaults" {
		t.Errorf("EndpointID = %q", a.EndpointID())
	}
}

// secondsOf returns how long a simulated activity takes on the harness's
// profile.
func (h *harness) secondsOf(what string) time.Duration {
	switch what {
	case "download":
		return time.Duration(h.a.prof.DownloadSeconds) * time.Second
	}
	h.t.Fatalf("secondsOf(%q)", what)
	return 0
}

func TestDebugLog(t *testing.T) {
	var buf strings.Builder
	p, _ := profile.Builtin(profile.DefaultName)
	a, err := New(Config{EndpointID: "proto::log", Profile: p, Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	a.Handle("x", usp.Message{ID: "1", Body: usp.NewOperate("Device.Reboot()", "k", false, nil)})
	a.Rebooted()
	if out := buf.String(); !strings.Contains(out, "component=simulator/agent") || !strings.Contains(out, "endpoint=proto::log") ||
		!strings.Contains(out, "msg=\"reboot requested\"") || !strings.Contains(out, "msg=rebooted") {
		t.Errorf("log:\n%s", out)
	}
}
