package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"cuttle/broker/creds"
	"cuttle/internal/testpki"
)

func TestBruteForceLockout(t *testing.T) {
	e := startEnv(t, func(c *Config) {
		c.Lockout.MaxFailures = 3
	})
	sec := e.addCred(creds.RoleDevice, devA, "")
	for i := range 3 {
		if _, code, _ := e.dial(dialOpts{username: devA, password: "guess"}); code != codeBadUserPass {
			t.Fatalf("attempt %d: 0x%02x", i, code)
		}
	}
	// Locked: even the right secret is refused, without being checked.
	if _, code, _ := e.dial(dialOpts{username: devA, password: sec}); code != codeRateExceeded {
		t.Fatalf("locked out attempt: CONNACK 0x%02x, want 0x9F", code)
	}
	if got := testutil.ToFloat64(e.b.metrics.lockouts.WithLabelValues("username")); got != 1 {
		t.Errorf("username lockouts metric %v", got)
	}
	if got := testutil.ToFloat64(e.b.metrics.authFailures.WithLabelValues("locked_out")); got != 1 {
		t.Errorf("locked_out failures metric %v", got)
	}
}

// Guessing a device's password from elsewhere locks its username, but not
// for the address the device logged in from, nor for its certificate.
func TestLockoutSparesTrustedSourcesAndCertificates(t *testing.T) {
	p := newPKI(t)
	e := startEnv(t, func(c *Config) {
		c.Listeners = []ListenerConfig{p.listener(t, AuthCertOrPassword)}
		c.Lockout.MaxFailures = 3
	})
	sec := e.addCred(creds.RoleDevice, devA, "")
	cert := p.ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devA}})
	const home, attacker, elsewhere = "127.0.0.1", "127.0.0.2", "127.0.0.3"
	dial := func(from string, o dialOpts) byte {
		t.Helper()
		o.listener, o.from = "mtls", from
		if o.tls == nil {
			o.tls = p.clientTLS(nil)
		}
		cl, code, err := e.dial(o)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		if cl != nil {
			_ = cl.Disconnect(&paho.Disconnect{})
		}
		return code
	}
	if code := dial(home, dialOpts{username: devA, password: sec}); code != codeSuccess {
		t.Fatalf("first login: 0x%02x", code)
	}
	for i := range 3 {
		if code := dial(attacker, dialOpts{username: devA, password: "guess"}); code != codeBadUserPass {
			t.Fatalf("guess %d: 0x%02x", i, code)
		}
	}
	if code := dial(elsewhere, dialOpts{username: devA, password: sec}); code != codeRateExceeded {
		t.Fatalf("the locked username from a new address: 0x%02x, want 0x9F", code)
	}
	if code := dial(home, dialOpts{username: devA, password: sec}); code != codeSuccess {
		t.Fatalf("the device at its own address: 0x%02x, want success", code)
	}
	if code := dial(elsewhere, dialOpts{tls: p.clientTLS(&cert)}); code != codeSuccess {
		t.Fatalf("the device's certificate from a new address: 0x%02x, want success", code)
	}
	if code := dial(attacker, dialOpts{tls: p.clientTLS(&cert)}); code != codeRateExceeded {
		t.Fatalf("a certificate from the locked IP: 0x%02x, want 0x9F", code)
	}
}

func TestLiveRevocation(t *testing.T) {
	cases := []struct {
		name   string
		revoke func(e *env) error
	}{
		{"removed", func(e *env) error { return e.store.Remove(context.Background(), devA) }},
		{"disabled", func(e *env) error { return e.store.SetDisabled(context.Background(), devA, true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startEnv(t, nil)
			sec := e.addCred(creds.RoleDevice, devA, "")
			secB := e.addCred(creds.RoleDevice, devB, "")
			cl := e.mustDial(dialOpts{username: devA, password: sec})
			bystander := e.mustDial(dialOpts{username: devB, password: secB})
			start := time.Now()
			if err := c.revoke(e); err != nil {
				t.Fatal(err)
			}
			cl.expectRevoked(t, start, "session ("+c.name+")")
			if _, code, _ := e.dial(dialOpts{username: devA, password: sec}); code == codeSuccess {
				t.Error("revoked credential still connects")
			}
			select {
			case <-bystander.disconnected:
				t.Error("another device was disconnected")
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// TestConnectDeadline: a connection that sends nothing, or half a CONNECT,
// is closed after ConnectTimeout.
func TestConnectDeadline(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.ConnectTimeout = 300 * time.Millisecond })
	for _, prefix := range [][]byte{nil, {0x10, 0x20, 0x00, 0x04, 'M', 'Q'}} {
		c, err := net.Dial("tcp", e.b.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(prefix); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection with %d bytes of CONNECT still open after 3 s", len(prefix))
		}
		if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
			t.Errorf("closed after %v, want about 300ms", took)
		}
		c.Close()
	}
}

func TestConnectionCaps(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxConnectionsPerIP = 2 })
	sec := e.addCred(creds.RoleController, ctlC, "")
	e.mustDial(dialOpts{username: ctlC, password: sec, clientID: ctlC + "/1"})
	e.mustDial(dialOpts{username: ctlC, password: sec, clientID: ctlC + "/2"})
	if _, _, err := e.dial(dialOpts{username: ctlC, password: sec, clientID: ctlC + "/3"}); err == nil {
		t.Fatal("third connection from one IP accepted")
	}
	if got := testutil.ToFloat64(e.b.metrics.connRefused.WithLabelValues("tcp", "per_ip")); got != 1 {
		t.Errorf("refused metric %v", got)
	}
}

func TestOversizedPacket(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxPacketSize = 4096 })
	secA := e.addCred(creds.RoleDevice, devA, "")
	e.addCred(creds.RoleController, ctlC, "")
	cl := e.mustDial(dialOpts{username: devA, password: secA})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	big := &paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 1, Payload: make([]byte, 8192)}
	if _, err := cl.Publish(ctx, big); err == nil {
		t.Fatal("oversized publish acknowledged")
	}
	select {
	case <-cl.disconnected:
	case <-cl.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("client sending an oversized packet is still connected")
	}
}

// TestUserPropertiesDelivered: user properties, response topic, correlation
// data and content type reach the subscriber even when it asked for no
// problem information, and acks do not echo the publisher's properties.
func TestUserPropertiesDelivered(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	// paho sends Request Problem Information = 0 unless told otherwise,
	// which is the case Mochi gets wrong.
	dev := e.mustDial(dialOpts{username: devA, password: secA})
	if code := dev.subscribe(t, "usp/v1/agent/"+devA, 1); code != codeGrantedQoS1 {
		t.Fatal(code)
	}
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	pub := &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: record(t, ctlC, devA), Properties: &paho.PublishProperties{
		ResponseTopic: "usp/v1/controller/" + ctlC, CorrelationData: []byte("msg-1"), ContentType: "usp.msg",
		User: paho.UserProperties{{Key: "usp-msg-type", Value: "GET"}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := ctl.Publish(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Properties != nil && len(resp.Properties.User) > 0 {
		t.Errorf("PUBACK echoes user properties %v", resp.Properties.User)
	}
	got := dev.expect(t)
	p := got.Properties
	if p == nil || p.User.Get("usp-msg-type") != "GET" || p.ResponseTopic != "usp/v1/controller/"+ctlC ||
		string(p.CorrelationData) != "msg-1" || p.ContentType != "usp.msg" {
		t.Errorf("properties lost: %+v", p)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.HTTPAddr = "127.0.0.1:0" })
	sec := e.addCred(creds.RoleDevice, devA, "")
	e.mustDial(dialOpts{username: devA, password: sec})
	e.dial(dialOpts{username: devA, password: "wrong"})
	base := "http://" + e.b.HTTPAddr()
	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": "ready",
		"/metrics": `cuttle_broker_auth_failures_total{reason="bad_credentials"} 1`,
	} {
		body := httpGet(t, base+path)
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %q:\n%.2000s", path, want, body)
		}
	}
	if body := httpGet(t, base+"/metrics"); !strings.Contains(body, "cuttle_broker_clients_connected 1") {
		t.Errorf("clients_connected not 1:\n%.3000s", body)
	}
}

func TestConfigValidation(t *testing.T) {
	mirror := fakeCreds{}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no credentials", Config{}, "credentials"},
		{"anonymous on all interfaces", Config{Credentials: mirror, Listeners: []ListenerConfig{{Addr: ":1884", Auth: AuthAnonymous}}}, "listeners[0].auth"},
		{"anonymous on a public address", Config{Credentials: mirror, Listeners: []ListenerConfig{{Addr: "192.0.2.1:1884", Auth: AuthAnonymous}}}, "loopback"},
		{"unknown type", Config{Credentials: mirror, Listeners: []ListenerConfig{{Type: "quic", Addr: ":1"}}}, "listeners[0].type"},
		{"tls without cert", Config{Credentials: mirror, Listeners: []ListenerConfig{{Type: ListenerTLS, Addr: ":8883"}}}, "listeners[0].tls"},
		{"cert auth on tcp", Config{Credentials: mirror, Listeners: []ListenerConfig{{Addr: ":1883", Auth: AuthCert}}}, "listeners[0].auth"},
		{"bad address", Config{Credentials: mirror, Listeners: []ListenerConfig{{Addr: "nowhere"}}}, "listeners[0].addr"},
		{"duplicate names", Config{Credentials: mirror, Listeners: []ListenerConfig{{Addr: ":1"}, {Addr: ":2"}}}, "duplicate"},
		{"negative timeout", Config{Credentials: mirror, ConnectTimeout: -1}, "connect_timeout"},
		{"inflight too big", Config{Credentials: mirror, MaxInflight: 70000}, "max_inflight"},
		{"keep alive below a second", Config{Credentials: mirror, MaxKeepalive: time.Millisecond}, "max_keepalive"},
		{"keep alive beyond MQTT's", Config{Credentials: mirror, MaxKeepalive: 19 * time.Hour}, "max_keepalive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrConfig naming %q", err, c.want)
			}
		})
	}
	if _, err := New(Config{Credentials: mirror, Listeners: []ListenerConfig{{Addr: "127.0.0.1:0", Auth: AuthAnonymous}}}); err != nil {
		t.Errorf("loopback anonymous listener refused: %v", err)
	}
}

// TestWillMessagesChecked: a Will Message is a publish the broker makes for
// the client later, so it must pass the checks the client's own publish
// would, at CONNECT, where the client can be told: a device may not leave a
// Will for another device's inbox, a retained one, or one whose Record is
// not from the device itself. A Will that passes is delivered.
func TestWillMessagesChecked(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secB := e.addCred(creds.RoleDevice, devB, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	devBc := e.mustDial(dialOpts{username: devB, password: secB})
	if code := devBc.subscribe(t, "usp/v1/agent/"+devB, 1); code != codeGrantedQoS1 {
		t.Fatalf("subscribe 0x%02x", code)
	}
	ctl, toCtl := e.subscribedController(secC, dialOpts{})
	for _, tc := range []struct {
		name string
		will paho.WillMessage
		code byte
	}{
		{"another device's inbox", paho.WillMessage{Topic: "usp/v1/agent/" + devB, QoS: 1, Payload: record(t, ctlC, devB)}, codeNotAuthorized},
		{"a wildcard topic", paho.WillMessage{Topic: "usp/v1/agent/#", QoS: 1, Payload: record(t, devA, ctlC)}, codeNotAuthorized},
		{"retained", paho.WillMessage{Topic: toCtl, QoS: 1, Retain: true, Payload: record(t, devA, ctlC)}, codeNotAuthorized},
		{"spoofed from_id", paho.WillMessage{Topic: toCtl, QoS: 1, Payload: record(t, devB, ctlC)}, codeNotAuthorized},
		{"not a USP Record", paho.WillMessage{Topic: toCtl, QoS: 1, Payload: []byte("not a record")}, codePayloadInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, code, err := e.dial(dialOpts{username: devA, password: secA, will: &tc.will})
			if err != nil {
				t.Fatal(err)
			}
			if c != nil {
				_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0x04}) // with Will Message
				t.Fatalf("CONNECT accepted; want 0x%02x", tc.code)
			}
			if code != tc.code {
				t.Errorf("CONNACK 0x%02x; want 0x%02x", code, tc.code)
			}
		})
	}
	devBc.expectNone(t, 200*time.Millisecond)

	t.Run("allowed", func(t *testing.T) {
		payload := record(t, devA, ctlC)
		c := e.mustDial(dialOpts{username: devA, password: secA, will: &paho.WillMessage{Topic: toCtl, QoS: 1, Payload: payload}})
		if err := c.Disconnect(&paho.Disconnect{ReasonCode: 0x04}); err != nil {
			t.Fatal(err)
		}
		if got := ctl.expect(t); string(got.Payload) != string(payload) {
			t.Errorf("controller got %x", got.Payload)
		}
	})

	t.Run("revoked device leaves none", func(t *testing.T) {
		c := e.mustDial(dialOpts{username: devA, password: secA, will: &paho.WillMessage{Topic: toCtl, QoS: 1, Payload: record(t, devA, ctlC)}})
		start := time.Now()
		if err := e.store.SetDisabled(context.Background(), devA, true); err != nil {
			t.Fatal(err)
		}
		c.expectRevoked(t, start, "device with a Will")
		ctl.expectNone(t, 300*time.Millisecond)
	})
}

// TestTopicAliasesFromClients: the CONNACK offers topic aliases, a client
// may then publish by alias alone (Mochi alone refused those, judging the
// empty topic before resolving the alias), an alias it never set is a
// protocol error, and one above the maximum is refused.
func TestTopicAliasesFromClients(t *testing.T) {
	e := startEnv(t, nil)
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	ctl, inbox := e.subscribedController(secC, dialOpts{})
	publish := func(dev *client, topic string, alias uint16) (*paho.PublishResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return dev.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: record(t, devA, ctlC),
			Properties: &paho.PublishProperties{TopicAlias: &alias}})
	}

	dev := e.mustDial(dialOpts{username: devA, password: secA})
	if got := dev.connack.Properties.TopicAliasMaximum; got == nil || *got != topicAliasMaximum {
		t.Errorf("CONNACK Topic Alias Maximum %v, want %d", got, topicAliasMaximum)
	}
	for i, topic := range []string{inbox, ""} {
		if r, err := publish(dev, topic, 1); err != nil || r.ReasonCode != codeSuccess {
			t.Fatalf("publish %d (topic %q, alias 1): %v %+v", i, topic, err, r)
		}
		if got := ctl.expect(t); got.Topic != inbox {
			t.Errorf("controller got topic %q", got.Topic)
		}
	}

	t.Run("unknown alias", func(t *testing.T) {
		dev := e.mustDial(dialOpts{username: devA, password: secA})
		go func() { _, _ = publish(dev, "", 2) }() // answered by DISCONNECT, not PUBACK
		select {
		case d := <-dev.disconnected:
			if d.ReasonCode != 0x82 {
				t.Errorf("DISCONNECT 0x%02x, want 0x82 (protocol error)", d.ReasonCode)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not disconnected")
		}
	})
	t.Run("alias above the maximum", func(t *testing.T) {
		// paho will not send it, so the packets are written by hand.
		c, err := net.Dial("tcp", e.b.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
			Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
				UsernameFlag: true, Username: []byte(devA), PasswordFlag: true, Password: []byte(secA)}}
		pub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5,
			PacketID: 1, Payload: record(t, devA, ctlC),
			Properties: packets.Properties{TopicAlias: topicAliasMaximum + 1, TopicAliasFlag: true}}
		var buf bytes.Buffer
		if err := connect.ConnectEncode(&buf); err != nil {
			t.Fatal(err)
		}
		if err := pub.PublishEncode(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		for {
			kind, body := readRawPacket(t, r)
			if kind == packets.Disconnect {
				if len(body) == 0 || body[0] != 0x94 {
					t.Errorf("DISCONNECT %x, want reason 0x94 (topic alias invalid)", body)
				}
				return
			}
		}
	})
	ctl.expectNone(t, 100*time.Millisecond)
}

// readRawPacket reads one MQTT packet: its type and its body.
func readRawPacket(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	first, err := r.ReadByte()
	if err != nil {
		t.Fatalf("reading a packet: %v", err)
	}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil || shift > 21 {
			t.Fatalf("reading a packet length: %v", err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("reading a packet body: %v", err)
	}
	return first >> 4, body
}

// TestKeepaliveCapped: a client may not hold a connection with no keep
// alive, or a longer one than the broker allows, because a connection that
// died without a FIN would stay open (and its device online) for that long.
// MQTT 5 clients are told the cap in CONNACK and held to it; MQTT 3 ones,
// which cannot be told, are refused.
func TestKeepaliveCapped(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.MaxKeepalive = 2 * time.Second })
	secA := e.addCred(creds.RoleDevice, devA, "")
	for _, tc := range []struct {
		name      string
		version   byte
		keepalive uint16
		told      uint16 // Server Keep Alive expected in CONNACK; 0 = none
		refused   byte   // CONNACK code expected; 0 = accepted
	}{
		{"MQTT 5, none", 5, 0, 2, 0},
		{"MQTT 5, above the cap", 5, 60, 2, 0},
		{"MQTT 5, within the cap", 5, 1, 0, 0},
		{"MQTT 3.1.1, none", 4, 0, 0, 0x02},
		{"MQTT 3.1.1, above the cap", 4, 60, 0, 0x02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, r := rawConnect(t, e, packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: tc.keepalive,
				UsernameFlag: true, Username: []byte(devA), PasswordFlag: true, Password: []byte(secA)}, tc.version)
			kind, body := readRawPacket(t, r)
			if kind != packets.Connack {
				t.Fatalf("got packet type %d, want CONNACK", kind)
			}
			ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack, Remaining: len(body)}, ProtocolVersion: tc.version}
			if err := ack.ConnackDecode(body); err != nil {
				t.Fatal(err)
			}
			if ack.ReasonCode != tc.refused {
				t.Fatalf("CONNACK 0x%02x, want 0x%02x", ack.ReasonCode, tc.refused)
			}
			if tc.refused != 0 {
				return
			}
			if got := ack.Properties.ServerKeepAlive; ack.Properties.ServerKeepAliveFlag != (tc.told != 0) || got != tc.told {
				t.Errorf("Server Keep Alive %d (flag %v), want %d", got, ack.Properties.ServerKeepAliveFlag, tc.told)
			}
			// A silent client is closed after 1.5 times its keep alive.
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(15 * time.Second))
			if _, err := io.ReadAll(r); err != nil {
				t.Fatalf("a silent connection was not closed: %v", err)
			}
			ka := tc.keepalive
			if tc.told != 0 {
				ka = tc.told
			}
			want := time.Duration(ka+ka/2) * time.Second // Mochi's deadline, in whole seconds
			if took := time.Since(start); took < want-500*time.Millisecond || took > want+5*time.Second {
				t.Errorf("silent connection closed after %v, want about %v", took, want)
			}
		})
	}
}

// rawConnect opens a TCP connection to e's broker and writes a CONNECT of
// the given protocol version (4 = MQTT 3.1.1, 5), for checks paho cannot
// make; it returns the connection and a reader of what the broker sends.
func rawConnect(t *testing.T, e *env, params packets.ConnectParams, version byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", e.b.Addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	params.ProtocolName = []byte("MQTT")
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version, Connect: params}
	var buf bytes.Buffer
	if err := connect.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// TestDevicePublishRate: a device may publish its burst at once and then
// at the configured rate; beyond it a QoS 1 publish is answered 0x97 and a
// QoS 0 one is not delivered, and both are counted. Controllers are not
// limited.
func TestDevicePublishRate(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.DevicePublishRate, c.DevicePublishBurst = 1, 5 })
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	ctl, inbox := e.subscribedController(secC, dialOpts{})
	dev := e.mustDial(dialOpts{username: devA, password: secA})
	for i := range 5 {
		if code := dev.publish(t, &paho.Publish{Topic: inbox, QoS: 1, Payload: record(t, devA, ctlC)}); code != codeSuccess {
			t.Fatalf("publish %d of the burst: 0x%02x", i, code)
		}
		ctl.expect(t)
	}
	if code := dev.publish(t, &paho.Publish{Topic: inbox, QoS: 1, Payload: record(t, devA, ctlC)}); code != 0x97 {
		t.Errorf("publish beyond the burst: 0x%02x, want 0x97 (quota exceeded)", code)
	}
	dev.publish(t, &paho.Publish{Topic: inbox, QoS: 0, Payload: record(t, devA, ctlC)})
	ctl.expectNone(t, 200*time.Millisecond)
	if n := testutil.ToFloat64(e.b.metrics.recordsDropped.WithLabelValues("rate_limited")); n != 2 {
		t.Errorf("rate-limited publishes counted: %v, want 2", n)
	}
	time.Sleep(1100 * time.Millisecond) // one publish a second
	if code := dev.publish(t, &paho.Publish{Topic: inbox, QoS: 1, Payload: record(t, devA, ctlC)}); code != codeSuccess {
		t.Errorf("publish a second later: 0x%02x", code)
	}
	ctl.expect(t)
}
