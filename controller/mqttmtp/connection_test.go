package mqttmtp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/broker"
	"cuttle/internal/testutil"
	"cuttle/usp"
)

// TestReconnect stops the broker and starts a new one on the same port
// (same NATS and credentials): a request in flight fails at once with
// ErrNotConnected, and once the client has re-subscribed requests work
// again. Nothing the client started outlives it.
func TestReconnect(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	e := startEnv(t, func(c *broker.Config) { c.Listeners[0].Addr = testutil.RestartableAddr(t) })
	d := startFleet(e, "r", 1, fleetOpts{})[0]
	c := e.startClient(nil)

	get := func(path string) error {
		r, err := c.Get(ctxTimeout(t, 10*time.Second), d.eid, usp.NewGet(0, path))
		if err == nil {
			err = checkGet(r, d.eid, path)
		}
		return err
	}
	if err := get("Device.Before."); err != nil {
		t.Fatal(err)
	}

	type result struct {
		err error
		at  time.Time
	}
	inFlight := make(chan result, 1)
	go func() {
		_, err := c.Get(ctxTimeout(t, 20*time.Second), d.eid, usp.NewGet(0, "Device.Silent."))
		inFlight <- result{err, time.Now()}
	}()
	testutil.Eventually(t, 5*time.Second, "request in flight", func() bool { return c.Pending() == 1 })
	began := time.Now()
	e.restartBroker()
	t.Logf("broker restarted in %s", time.Since(began).Round(time.Millisecond))
	select {
	case r := <-inFlight:
		if !errors.Is(r.err, ErrNotConnected) {
			t.Errorf("request in flight during the restart: %v, want ErrNotConnected", r.err)
		}
		if waited := r.at.Sub(began); waited > 5*time.Second {
			t.Errorf("request in flight failed after %s, want at once", waited)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("request in flight still waiting after the broker went away")
	}

	d.connect()
	// Requests made while the client reconnects wait for it.
	if err := get("Device.After."); err != nil {
		t.Fatal(err)
	}
	if got := counter(c.metrics.connects); got != 2 {
		t.Errorf("connects = %v, want 2", got)
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("Pending() = %d", p)
	}
}

// TestNotConnected checks that requests without a broker fail at their
// deadline with ErrNotConnected, and with ErrClosed once Run has returned.
func TestNotConnected(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	addr := testutil.RefusedAddr(t)

	c, err := New(Config{Brokers: []string{"mqtt://" + addr}, Timeout: 150 * time.Millisecond,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	began := time.Now()
	_, err = c.Get(context.Background(), "self::dev", usp.NewGet(0, "Device."))
	if !isErr(err, ErrNotConnected, context.DeadlineExceeded) {
		t.Errorf("Get = %v, want ErrNotConnected", err)
	}
	if waited := time.Since(began); waited < 100*time.Millisecond || waited > 2*time.Second {
		t.Errorf("Get failed after %s, want about the 150 ms timeout", waited)
	}
	if _, err := c.Send(context.Background(), "self::dev", usp.NewOperate("Device.Reboot()", "k", false, nil)); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send = %v, want ErrNotConnected", err)
	}
	select {
	case <-c.Ready():
		t.Error("Ready closed without a broker")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if _, err := c.Get(context.Background(), "self::dev", usp.NewGet(0, "Device.")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Run = %v, want ErrClosed", err)
	}
	if got := counter(c.metrics.requests.WithLabelValues("GET", outcomeNotConnected)); got != 1 {
		t.Errorf("requests{GET,not_connected} = %v", got)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

// TestFailover lists a dead broker first: the client goes on to the next.
func TestFailover(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "f", 1, fleetOpts{})[0]
	dead := "mqtt://" + testutil.RefusedAddr(t)
	c := e.startClient(func(c *Config) { c.Brokers = []string{dead, e.url()} })
	if _, err := c.Get(ctxTimeout(t, 5*time.Second), d.eid, usp.NewGet(0, "Device.")); err != nil {
		t.Fatal(err)
	}
}

// TestWebSocket connects over ws:// with the inbox from CONNACK.
func TestWebSocket(t *testing.T) {
	e := startEnv(t, func(c *broker.Config) {
		c.Listeners = append(c.Listeners, broker.ListenerConfig{Name: "ws", Type: broker.ListenerWS, Addr: "127.0.0.1:0"})
	})
	d := startFleet(e, "ws", 1, fleetOpts{})[0]
	c := e.startClient(func(c *Config) { c.Brokers = []string{"ws://" + e.b.Addr("ws") + "/mqtt"} })
	if got := c.Inbox(); got != "usp/v1/controller/"+ctlEID {
		t.Errorf("inbox = %q", got)
	}
	for i := range 20 {
		path := "Device.WS." + string(rune('a'+i)) + "."
		r, err := c.Get(ctxTimeout(t, 5*time.Second), d.eid, usp.NewGet(0, path))
		if err == nil {
			err = checkGet(r, d.eid, path)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestSharedGroup runs two replicas on a shared subscription. The broker
// hands each response to one of them; a replica passes the responses it
// does not know to the other (here directly; in production through
// NATS), which completes its request with Deliver.
func TestSharedGroup(t *testing.T) {
	e := startEnv(t, nil)
	devs := startFleet(e, "g", 4, fleetOpts{})
	var replicas [2]*running
	var ready sync.WaitGroup
	ready.Add(2)
	for i := range replicas {
		replicas[i] = e.newClient(func(c *Config) {
			c.SharedGroup = "ctl"
			c.Handler = func(in Incoming) {
				ready.Wait()
				if in.Msg != nil && !in.Msg.IsRequest() {
					replicas[1-i].Deliver(in)
				}
			}
		})
		ready.Done()
	}
	for _, r := range replicas {
		<-r.Ready()
		if !strings.HasPrefix(r.cfg.ClientID, ctlEID+"/") {
			t.Errorf("replica client ID %q", r.cfg.ClientID)
		}
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			d, r := devs[i%len(devs)], replicas[i%2]
			path := "Device.Shared." + string(rune('a'+i%26)) + "."
			resp, err := r.Get(ctxTimeout(t, 10*time.Second), d.eid, usp.NewGet(0, path))
			if err == nil {
				err = checkGet(resp, d.eid, path)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	crossed := counter(replicas[0].metrics.unknownID) + counter(replicas[1].metrics.unknownID)
	t.Logf("%v of 40 responses reached the other replica", crossed)
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Brokers: []string{"mqtt://localhost", "wss://example.org/mqtt"}}
	brokers, err := cfg.setDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if brokers[0].Host != "localhost:1883" || brokers[1].Host != "example.org:443" {
		t.Errorf("broker hosts %s, %s", brokers[0].Host, brokers[1].Host)
	}
	if cfg.EndpointID != DefaultEndpointID || cfg.TopicPrefix != "usp/v1" || cfg.QoS != 1 || cfg.Timeout != 30*time.Second ||
		cfg.ClientID != "" || cfg.HandlerWorkers != DefaultHandlerWorkers {
		t.Errorf("defaults: %+v", cfg)
	}
	q0 := Config{Brokers: []string{"mqtt://h"}, QoS: PublishQoS0}
	if _, err := q0.setDefaults(); err != nil || q0.QoS != 0 {
		t.Errorf("PublishQoS0: QoS %d, %v", q0.QoS, err)
	}

	for name, cfg := range map[string]Config{
		"no brokers":     {},
		"bad scheme":     {Brokers: []string{"http://h"}},
		"no host":        {Brokers: []string{"mqtt://"}},
		"wildcard inbox": {Brokers: []string{"mqtt://h"}, Inbox: "usp/+/x"},
		"bad QoS":        {Brokers: []string{"mqtt://h"}, QoS: 3},
		"bad group":      {Brokers: []string{"mqtt://h"}, SharedGroup: "a/b"},
		"backoff":        {Brokers: []string{"mqtt://h"}, ReconnectMin: time.Second, ReconnectMax: time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New = %v, want ErrConfig", err)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{cfg: Config{ReconnectMin: 100 * time.Millisecond, ReconnectMax: 3 * time.Second}}
	for n, want := range map[int]time.Duration{0: 100 * time.Millisecond, 1: 200 * time.Millisecond, 3: 800 * time.Millisecond, 10: 3 * time.Second, 100: 3 * time.Second} {
		for range 50 {
			if d := c.backoff(n); d < want/2 || d > want {
				t.Errorf("backoff(%d) = %s, want in [%s, %s]", n, d, want/2, want)
			}
		}
	}
}
