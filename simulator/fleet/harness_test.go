package fleet

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
	"cuttle/simulator/agent"
	"cuttle/usp"
)

// testCtrl is the endpoint ID of the test Controller.
const testCtrl = "self::test-controller"

// env is a broker with embedded NATS behind its credentials, started for
// one test.
type env struct {
	t      *testing.T
	creds  *credstest.Stack
	store  *creds.Store
	mirror *creds.Mirror
	cfg    broker.Config
	b      *broker.Broker
	stop   func()
	// ctrlSecrets keeps the Controller secrets, to connect again after a
	// broker restart.
	ctrlSecrets map[string]string
}

// startEnv starts NATS, the credential store and mirror and a broker with
// one TCP listener on 127.0.0.1:0; mod may change the broker config.
func startEnv(t *testing.T, mod func(*broker.Config)) *env {
	t.Helper()
	cs := credstest.Start(t, creds.MirrorConfig{})
	e := &env{t: t, creds: cs, store: cs.Store, mirror: cs.Mirror, ctrlSecrets: map[string]string{}, cfg: broker.Config{
		Listeners:           []broker.ListenerConfig{{Name: "tcp", Type: broker.ListenerTCP, Addr: "127.0.0.1:0"}},
		Credentials:         cs.Mirror,
		MaxConnectionsPerIP: 100_000, // every simulated device comes from 127.0.0.1
	}}
	if mod != nil {
		mod(&e.cfg)
	}
	e.startBroker()
	return e
}

// startBroker starts a broker with e.cfg and registers its shutdown.
func (e *env) startBroker() {
	e.t.Helper()
	e.b, e.stop = brokertest.Start(e.t, e.cfg)
}

// restartBroker stops the broker and starts a new one on the same
// addresses, with the same NATS behind it. Start the broker on
// testutil.RestartableAddr: a port 0 listener's port may be taken meanwhile.
func (e *env) restartBroker() {
	e.t.Helper()
	for i := range e.cfg.Listeners {
		e.cfg.Listeners[i].Addr = e.b.Addr(e.cfg.Listeners[i].Name)
	}
	e.stop()
	e.startBroker()
}

// url returns the broker URL of the named listener.
func (e *env) url(scheme, listener string) string {
	return scheme + "://" + e.b.Addr(listener)
}

// provision creates n device credentials with endpoint IDs prefix000001...
// and waits until the broker's mirror has them.
func (e *env) provision(prefix string, n int) []DeviceConfig {
	e.t.Helper()
	ctx := context.Background()
	out := make([]DeviceConfig, n)
	for i := range n {
		eid := fmt.Sprintf("%s%06d", prefix, i+1)
		_, secret, err := e.store.Add(ctx, creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
		if err != nil {
			e.t.Fatal(err)
		}
		out[i] = DeviceConfig{EndpointID: eid, Username: eid, Secret: secret}
	}
	e.waitMirror(out[n-1].Username)
	return out
}

func (e *env) waitMirror(username string) {
	e.t.Helper()
	e.creds.WaitMirror(e.t, 10*time.Second, username)
}

// startFleet builds a fleet for devices against the env's TCP listener with
// test-friendly timings, runs it, and stops it at cleanup.
func (e *env) startFleet(devices []DeviceConfig, mod func(*Config)) *Fleet {
	e.t.Helper()
	cfg := Config{
		Brokers:      []string{e.url("mqtt", "tcp")},
		Devices:      devices,
		Controllers:  []agent.Controller{{EndpointID: testCtrl}},
		Rate:         1000,
		TickInterval: 100 * time.Millisecond,
		BootDelay:    300 * time.Millisecond,
		BackoffBase:  100 * time.Millisecond,
		BackoffMax:   time.Second,
	}
	cfg.Logger = testutil.LoggerFromEnv("CUTTLE_TEST_SIM_LOG")
	if mod != nil {
		mod(&cfg)
	}
	return runFleet(e.t, cfg)
}

// runFleet runs a fleet until the test ends.
func runFleet(t *testing.T, cfg Config) *Fleet {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "fleet", 20*time.Second, f.Run)
	return f
}

// waitConnected waits until n devices are connected.
func waitConnected(t testing.TB, f *Fleet, n int, limit time.Duration) {
	t.Helper()
	testutil.Eventually(t, limit, fmt.Sprintf("%d connected devices", n), func() bool { return f.Stats().Connected >= n })
}

// received is one Record the test Controller got.
type received struct {
	rec   *usp.Record
	msg   usp.Message // for Msg Records
	props *paho.PublishProperties
	topic string
}

// controller is a USP Controller built on usp and paho: it sends requests
// to device inboxes and collects what devices send to its own.
type controller struct {
	t     *testing.T
	eid   string
	inbox string
	c     *paho.Client

	mu      sync.Mutex // guards waiters
	waiters map[string]chan received
	// records gets every Record that is not a response to send.
	records chan received
}

// controller connects a Controller, provisioning its credential the first
// time.
func (e *env) controller(eid string) *controller {
	e.t.Helper()
	secret, ok := e.ctrlSecrets[eid]
	if !ok {
		var err error
		if _, secret, err = e.store.Add(context.Background(), creds.AddRequest{Role: creds.RoleController, EndpointID: eid}); err != nil {
			e.t.Fatal(err)
		}
		e.ctrlSecrets[eid] = secret
		e.waitMirror(eid)
	}
	nc, err := net.Dial("tcp", e.b.Addr("tcp"))
	if err != nil {
		e.t.Fatal(err)
	}
	tc := &controller{t: e.t, eid: eid, inbox: "usp/v1/controller/" + eid, waiters: map[string]chan received{}, records: make(chan received, 20_000)}
	tc.c = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			tc.deliver(pr.Packet)
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tc.c.Connect(ctx, &paho.Connect{
		ClientID: eid, KeepAlive: 30, CleanStart: true,
		Username: eid, UsernameFlag: true, Password: []byte(secret), PasswordFlag: true,
	}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = tc.c.Disconnect(&paho.Disconnect{}) })
	if _, err := tc.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: tc.inbox, QoS: 1}}}); err != nil {
		e.t.Fatal(err)
	}
	return tc
}

func (tc *controller) deliver(p *paho.Publish) {
	rec, err := usp.ParseRecord(p.Payload)
	if err != nil {
		tc.t.Errorf("controller got a bad Record on %s: %v", p.Topic, err)
		return
	}
	r := received{rec: rec, props: p.Properties, topic: p.Topic}
	if r.props == nil {
		r.props = &paho.PublishProperties{}
	}
	if rec.Kind == usp.KindMsg {
		if r.msg, err = rec.Message(); err != nil {
			tc.t.Errorf("controller got a bad Msg from %s: %v", rec.FromID, err)
			return
		}
		if !r.msg.IsRequest() {
			tc.mu.Lock()
			w := tc.waiters[r.msg.ID]
			delete(tc.waiters, r.msg.ID)
			tc.mu.Unlock()
			if w != nil {
				w <- r
				return
			}
		}
	}
	select {
	case tc.records <- r:
	default:
		tc.t.Errorf("controller: record queue full")
	}
}

// publish sends payload to a device inbox as a Controller does.
func (tc *controller) publish(eid string, payload []byte, props *paho.PublishProperties) {
	tc.t.Helper()
	if props == nil {
		props = &paho.PublishProperties{ContentType: "usp.msg", ResponseTopic: tc.inbox}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tc.c.Publish(ctx, &paho.Publish{Topic: "usp/v1/agent/" + eid, QoS: 1, Payload: payload, Properties: props}); err != nil {
		tc.t.Fatalf("publish to %s: %v", eid, err)
	}
}

// record serializes a Msg Record from the Controller (or from) to eid.
func (tc *controller) record(from, to, msgID string, body usp.Body) []byte {
	tc.t.Helper()
	r, err := usp.NewMsgRecord(from, to, msgID, body)
	if err != nil {
		tc.t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		tc.t.Fatal(err)
	}
	return b
}

// expect registers for the answer to msgID.
func (tc *controller) expect(msgID string) chan received {
	ch := make(chan received, 1)
	tc.mu.Lock()
	tc.waiters[msgID] = ch
	tc.mu.Unlock()
	return ch
}

// do sends a request to device eid and returns the answer.
func (tc *controller) do(eid string, body usp.Body) received {
	tc.t.Helper()
	id := usp.NewMsgID()
	ch := tc.expect(id)
	tc.publish(eid, tc.record(tc.eid, eid, id, body), nil)
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		tc.t.Fatalf("no answer from %s to %T", eid, body)
		return received{}
	}
}

// next returns the next collected Record that match accepts, skipping
// others.
func (tc *controller) next(limit time.Duration, what string, match func(received) bool) received {
	tc.t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case r := <-tc.records:
			if match(r) {
				return r
			}
		case <-deadline:
			tc.t.Fatalf("timed out after %v waiting for %s", limit, what)
			return received{}
		}
	}
}

// notifyFrom matches Notify messages from eid accepted by fn.
func notifyFrom(eid string, fn func(*usp.Notify) bool) func(received) bool {
	return func(r received) bool {
		n, ok := r.msg.Body.(*usp.Notify)
		return ok && r.rec.FromID == eid && fn(n)
	}
}
