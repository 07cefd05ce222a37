package mqttmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
)

// env is a running broker with a real embedded NATS behind its
// credentials, started as broker/harness_test.go does.
type env struct {
	tb     testing.TB
	cfg    broker.Config
	store  *creds.Store
	mirror *creds.Mirror
	b      *broker.Broker
	stop   func()               // stops the broker (not NATS or the mirror)
	reg    *prometheus.Registry // the broker's metrics
	// ctlSecret is the secret of the controller credential (ctlEID).
	ctlSecret string
}

// ctlEID is the endpoint ID of the controller the tests run.
const ctlEID = "self::cuttle-controller"

// startEnv starts NATS, the credential store and mirror, and a broker
// with one TCP listener on 127.0.0.1:0 (and whatever mod adds).
func startEnv(tb testing.TB, mod func(*broker.Config)) *env {
	tb.Helper()
	cs := credstest.Start(tb, creds.MirrorConfig{Logger: testLogger()})
	store, mirror := cs.Store, cs.Mirror
	cfg := broker.Config{
		Listeners:   []broker.ListenerConfig{{Name: "tcp", Type: broker.ListenerTCP, Addr: "127.0.0.1:0"}},
		Credentials: mirror,
		Lockout:     lockout.Config{MaxFailures: 1000, Window: time.Minute, BaseLockout: time.Minute},
		Logger:      testLogger(),
		// The benchmarks send one device requests at full speed.
		DevicePublishRate: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	e := &env{tb: tb, cfg: cfg, store: store, mirror: mirror}
	e.startBroker()
	e.ctlSecret = e.addCred(creds.RoleController, ctlEID, "")
	return e
}

// startBroker starts a broker with e.cfg and registers its shutdown.
func (e *env) startBroker() {
	e.tb.Helper()
	cfg := e.cfg
	e.reg = prometheus.NewRegistry()
	cfg.Registerer = e.reg
	e.b, e.stop = brokertest.Start(e.tb, cfg)
	e.waitServing()
}

// waitServing waits until the broker answers CONNECT, which it does only
// once Run has subscribed to credential changes.
func (e *env) waitServing() {
	e.tb.Helper()
	e.waitFor(func() bool {
		conn, err := net.Dial("tcp", e.addr())
		if err != nil {
			return false
		}
		cli := paho.NewClient(paho.ClientConfig{Conn: conn})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ca, _ := cli.Connect(ctx, &paho.Connect{ClientID: "probe", KeepAlive: 30, CleanStart: true})
		_ = conn.Close()
		return ca != nil // refused (no credentials), but answered
	}, "broker serving")
}

// restartBroker stops the broker and starts a new one on the same
// addresses, with the same NATS and credentials. Start the broker on
// testutil.RestartableAddr: a port 0 listener's port may be taken meanwhile.
func (e *env) restartBroker() {
	e.tb.Helper()
	for i, l := range e.cfg.Listeners {
		e.cfg.Listeners[i].Addr = e.b.Addr(l.Name)
	}
	e.stop()
	e.startBroker()
}

// brokerDrops sums the broker's counters of lost deliveries, for
// diagnosing failures.
func (e *env) brokerDrops() string {
	mfs, err := e.reg.Gather()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, mf := range mfs {
		if n := mf.GetName(); strings.Contains(n, "drop") || strings.Contains(n, "denial") || strings.Contains(n, "inflight") || strings.Contains(n, "revocation") {
			for _, m := range mf.GetMetric() {
				if v := m.GetCounter().GetValue() + m.GetGauge().GetValue(); v > 0 {
					out = append(out, fmt.Sprintf("%s%v=%v", n, m.GetLabel(), v))
				}
			}
		}
	}
	return strings.Join(out, " ")
}

func (e *env) addr() string { return e.b.Addr("tcp") }

func (e *env) url() string { return "mqtt://" + e.addr() }

// addCred provisions a credential and returns its secret once the broker
// has taken it in. Seeing it in the mirror is not enough: the mirror
// publishes a credential before it tells its subscribers, and the broker
// reads a new credential's first notification as a change of role, which
// closes any session opened in between. So addCred waits for its own
// subscription, called after the broker's, to see the change.
func (e *env) addCred(role creds.Role, eid, username string) string {
	e.tb.Helper()
	if username == "" {
		username = eid
	}
	seen := make(chan struct{})
	var once sync.Once
	cancel := e.mirror.Subscribe(func(ch creds.Change) {
		if ch.Username == username {
			once.Do(func() { close(seen) })
		}
	})
	defer cancel()
	_, secret, err := e.store.Add(context.Background(), creds.AddRequest{Username: username, Role: role, EndpointID: eid})
	if err != nil {
		e.tb.Fatal(err)
	}
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		e.tb.Fatalf("the mirror did not report %s", username)
	}
	return secret
}

// waitFor polls cond for up to 10 s.
func (e *env) waitFor(cond func() bool, what string) {
	e.tb.Helper()
	testutil.Eventually(e.tb, 10*time.Second, what, cond)
}

// running is a Client under Run, with its own metrics registry.
type running struct {
	*Client
	reg  *prometheus.Registry
	stop func() // cancels Run and waits for it
}

// startClient runs a controller client against e (mod may change its
// Config) and waits until it is Ready.
func (e *env) startClient(mod func(*Config)) *running {
	e.tb.Helper()
	r := e.newClient(mod)
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		e.tb.Fatal("client not ready after 10 s")
	}
	return r
}

// newClient runs a client without waiting for it to connect.
func (e *env) newClient(mod func(*Config)) *running {
	e.tb.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Brokers:      []string{e.url()},
		Username:     ctlEID,
		Password:     e.ctlSecret,
		Registerer:   reg,
		Logger:       testLogger(),
		ReconnectMin: 20 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		e.tb.Fatal(err)
	}
	return &running{Client: c, reg: reg, stop: testutil.Run(e.tb, "client run", 15*time.Second, c.Run)}
}

// counter reads a counter or gauge of the client's metrics.
func counter(c prometheus.Collector) float64 { return promtest.ToFloat64(c) }

// testLogger discards logs unless CUTTLE_TEST_LOG is set.
func testLogger() *slog.Logger { return testutil.LoggerFromEnv("CUTTLE_TEST_LOG") }

// ctxTimeout is a context for one test step.
func ctxTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// isErr reports errors.Is for each target, for compact assertions.
func isErr(err error, targets ...error) bool {
	for _, t := range targets {
		if !errors.Is(err, t) {
			return false
		}
	}
	return true
}
