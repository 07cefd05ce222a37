package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/embednats"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/credstest"
	"cuttle/usp"
)

// env is a running broker with a real embedded NATS behind its credentials.
type env struct {
	t      testing.TB
	b      *Broker
	cfg    Config
	creds  *credstest.Stack
	store  *creds.Store
	mirror *creds.Mirror
	js     jetstream.JetStream
	ns     *embednats.Server
	reg    *prometheus.Registry
	stop   func() // stops the broker (not NATS or the mirror)
}

// startEnv starts NATS, the credential store and mirror, and a broker
// configured by mod (listeners default to one TCP listener on 127.0.0.1:0).
func startEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	cs := credstest.Start(t, creds.MirrorConfig{})
	cfg := Config{
		Listeners:   []ListenerConfig{{Name: "tcp", Type: ListenerTCP, Addr: "127.0.0.1:0"}},
		Credentials: cs.Mirror,
		Lockout:     lockout.Config{MaxFailures: 5, Window: time.Minute, BaseLockout: time.Minute},
	}
	if mod != nil {
		mod(&cfg)
	}
	e := &env{t: t, cfg: cfg, creds: cs, store: cs.Store, mirror: cs.Mirror, js: cs.JS, ns: cs.NATS}
	e.startBroker()
	return e
}

// startBroker starts a broker with e.cfg (a fresh metrics registry each
// time) and registers its shutdown.
func (e *env) startBroker() {
	e.t.Helper()
	cfg := e.cfg
	e.reg = prometheus.NewRegistry()
	cfg.Registerer = e.reg
	b, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.b, e.stop = b, testutil.Run(e.t, "broker run", 15*time.Second, b.Run)
}

// addCred provisions a credential and waits until the broker's mirror has it.
func (e *env) addCred(role creds.Role, eid, username string) string {
	e.t.Helper()
	return e.creds.Add(e.t, creds.AddRequest{Username: username, Role: role, EndpointID: eid}, 5*time.Second)
}

// waitFor polls cond for up to 5 s.
func (e *env) waitFor(cond func() bool, what string) {
	e.t.Helper()
	testutil.Eventually(e.t, 5*time.Second, what, cond)
}

// client is a paho MQTT 5 client with a channel of received messages.
type client struct {
	*paho.Client
	msgs         chan *paho.Publish
	disconnected chan *paho.Disconnect
	connack      *paho.Connack
}

type dialOpts struct {
	listener     string
	clientID     string
	username     string
	password     string
	endpointProp string // usp-endpoint-id user property, if set
	tls          *tls.Config
	responseInfo bool
	receiveMax   uint16
	manualAck    bool
	persistent   bool   // CleanStart false with a one-hour session expiry
	aliasMax     uint16 // Topic Alias Maximum the client accepts
	will         *paho.WillMessage
	maxPacket    uint32 // Maximum Packet Size the client accepts
	from         string // local IP to connect from (a 127.0.0.0/8 address), if set
}

// dial connects and returns the client and the CONNACK reason code; the
// client is nil when the broker refused.
func (e *env) dial(o dialOpts) (*client, byte, error) {
	e.t.Helper()
	if o.listener == "" {
		o.listener = "tcp"
	}
	addr := e.b.Addr(o.listener)
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 5 * time.Second}
	if o.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.from)}
	}
	if o.tls != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, o.tls)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, 0, err
	}
	// paho writes a packet as several Writes, which a tls.Conn sends as
	// several records, and it sends PINGREQ from its own goroutine as soon
	// as it is connected. The lock it looks for keeps one packet's Writes
	// together; without it about one mTLS dial in 40 sent a SUBSCRIBE with
	// a PINGREQ inside it, which the broker rightly refused as malformed.
	conn = packets.NewThreadSafeConn(conn)
	c := &client{msgs: make(chan *paho.Publish, 1000), disconnected: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect:         func(d *paho.Disconnect) { c.disconnected <- d },
		EnableManualAcknowledgment: o.manualAck,
	})
	cp := &paho.Connect{ClientID: o.clientID, KeepAlive: 30, CleanStart: !o.persistent, Properties: &paho.ConnectProperties{}}
	if o.persistent {
		expiry := uint32(3600)
		cp.Properties.SessionExpiryInterval = &expiry
	}
	if o.username != "" {
		cp.Username, cp.UsernameFlag = o.username, true
	}
	if o.password != "" {
		cp.Password, cp.PasswordFlag = []byte(o.password), true
	}
	if o.endpointProp != "" {
		cp.Properties.User = append(cp.Properties.User, paho.UserProperty{Key: "usp-endpoint-id", Value: o.endpointProp})
	}
	cp.Properties.RequestResponseInfo = o.responseInfo
	cp.WillMessage = o.will
	if o.maxPacket > 0 {
		cp.Properties.MaximumPacketSize = &o.maxPacket
	}
	if o.aliasMax > 0 {
		cp.Properties.TopicAliasMaximum = &o.aliasMax
	}
	if o.receiveMax > 0 {
		rm := o.receiveMax
		cp.Properties.ReceiveMaximum = &rm
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if ca != nil && ca.ReasonCode >= 0x80 {
		return nil, ca.ReasonCode, nil
	}
	if err != nil {
		_ = conn.Close()
		return nil, 0, err
	}
	c.connack = ca
	e.t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, ca.ReasonCode, nil
}

// mustDial connects and fails the test unless the broker accepts.
func (e *env) mustDial(o dialOpts) *client {
	e.t.Helper()
	c, code, err := e.dial(o)
	if err != nil {
		e.t.Fatalf("dial %+v: %v", o, err)
	}
	if c == nil {
		e.t.Fatalf("dial %+v refused with 0x%02x", o, code)
	}
	return c
}

// subscribedController connects controller ctlC, whose secret is secC,
// with the further options in o, subscribes it to its inbox, and returns
// it with the inbox.
func (e *env) subscribedController(secC string, o dialOpts) (*client, string) {
	e.t.Helper()
	o.username, o.password = ctlC, secC
	ctl := e.mustDial(o)
	inbox := "usp/v1/controller/" + ctlC
	if code := ctl.subscribe(e.t, inbox, 1); code != codeGrantedQoS1 {
		e.t.Fatalf("controller subscribe: 0x%02x", code)
	}
	return ctl, inbox
}

// subscribe returns the SUBACK reason code of one subscription.
func (c *client) subscribe(t testing.TB, filter string, qos byte) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if sa != nil && len(sa.Reasons) == 1 {
		return sa.Reasons[0] // paho also returns an error for codes >= 0x80
	}
	t.Fatalf("subscribe %s: no SUBACK: %v", filter, err)
	return 0
}

// publish returns the PUBACK reason code (0 for QoS 0 when sent).
func (c *client) publish(t *testing.T, p *paho.Publish) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Publish(ctx, p)
	if resp != nil {
		return resp.ReasonCode // paho also returns an error for codes >= 0x80
	}
	if err != nil {
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
	return 0
}

// expectNone asserts that c receives nothing for a while.
func (c *client) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %s: %q", m.Topic, m.Payload)
	case <-time.After(d):
	}
}

// expectRevoked checks that the broker disconnects c as not authorized
// within 1 s of since (when its credential or certificate was revoked),
// waiting up to 2 s.
func (c *client) expectRevoked(t *testing.T, since time.Time, what string) {
	t.Helper()
	select {
	case d := <-c.disconnected:
		if d.ReasonCode != codeNotAuthorized {
			t.Errorf("%s: DISCONNECT 0x%02x, want 0x87", what, d.ReasonCode)
		}
		if took := time.Since(since); took > time.Second {
			t.Errorf("%s: disconnected after %v, want < 1s", what, took)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("%s was not disconnected", what)
	}
}

// expect returns the next message or fails.
func (c *client) expect(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message received")
		return nil
	}
}

// record returns a serialized USP Notify Record from fromID to toID.
func record(t testing.TB, fromID, toID string) []byte {
	t.Helper()
	r, err := usp.NewMsgRecord(fromID, toID, usp.NewMsgID(), usp.NewNotify("s", false, &usp.ValueChange{Path: "Device.DeviceInfo.UpTime", Value: "1"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publishRecord is a QoS 1 publish of a valid Record from a device to a
// controller's inbox.
func publishRecord(fromDevice, toController string) *paho.Publish {
	r, err := usp.NewMsgRecord(fromDevice, toController, usp.NewMsgID(), usp.NewNotify("s", false, &usp.ValueChange{Path: "Device.DeviceInfo.UpTime", Value: "1"}))
	if err != nil {
		panic(err) // a constant message always encodes
	}
	b, err := r.Marshal()
	if err != nil {
		panic(err)
	}
	return &paho.Publish{Topic: "usp/v1/controller/" + toController, QoS: 1, Payload: b}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeCreds is an empty credential source for tests that never connect.
type fakeCreds struct{}

func (fakeCreds) Lookup(string) (creds.Credential, bool)       { return creds.Credential{}, false }
func (fakeCreds) HasController(string) bool                    { return false }
func (fakeCreds) IsRevoked(*x509.Certificate) bool             { return false }
func (fakeCreds) Subscribe(func(creds.Change)) (cancel func()) { return func() {} }
func (fakeCreds) Healthy() bool                                { return true }
