package broker

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/broker/creds"
)

const (
	devA = "os::012345-A"
	devB = "os::012345-B"
	ctlC = "self::ctl"
)

const (
	codeGrantedQoS1      = 0x01
	codeSuccess          = 0x00
	codeNotAuthorized    = 0x87
	codeBadUserPass      = 0x86
	codeClientIDInvalid  = 0x85
	codePayloadInvalid   = 0x99
	codeNoMatchingSubs   = 0x10
	codeRateExceeded     = 0x9F
	codeTopicFilterInval = 0x8F
)

// matrix is a running broker with two devices, a controller and an admin
// connected, and each device and the controller subscribed to its inbox.
type matrix struct {
	*env
	secrets     map[string]string
	a, b, c, op *client
}

func startMatrix(t *testing.T) *matrix {
	t.Helper()
	e := startEnv(t, nil)
	m := &matrix{env: e, secrets: map[string]string{}}
	m.secrets[devA] = e.addCred(creds.RoleDevice, devA, "")
	m.secrets[devB] = e.addCred(creds.RoleDevice, devB, "")
	m.secrets[ctlC] = e.addCred(creds.RoleController, ctlC, "")
	m.secrets["ops"] = e.addCred(creds.RoleAdmin, "", "ops")
	m.a = e.mustDial(dialOpts{username: devA, password: m.secrets[devA]})
	m.b = e.mustDial(dialOpts{username: devB, password: m.secrets[devB]})
	m.c = e.mustDial(dialOpts{username: ctlC, password: m.secrets[ctlC]})
	m.op = e.mustDial(dialOpts{username: "ops", password: m.secrets["ops"], clientID: "ops-watch"})
	for _, s := range []struct {
		c     *client
		topic string
	}{{m.a, "usp/v1/agent/" + devA}, {m.b, "usp/v1/agent/" + devB}, {m.c, "usp/v1/controller/" + ctlC}, {m.op, "#"}} {
		if code := s.c.subscribe(t, s.topic, 1); code != codeGrantedQoS1 {
			t.Fatalf("subscribe %s: 0x%02x", s.topic, code)
		}
	}
	return m
}

// drainAll empties every client's queue of received messages.
func (m *matrix) drainAll() {
	for _, c := range []*client{m.a, m.b, m.c, m.op} {
		for len(c.msgs) > 0 {
			<-c.msgs
		}
	}
}

func TestACLSubscribeMatrix(t *testing.T) {
	m := startMatrix(t)
	cases := []struct {
		name   string
		who    func() *client
		filter string
		want   byte
	}{
		{"device own inbox", func() *client { return m.a }, "usp/v1/agent/" + devA, codeGrantedQoS1},
		{"device other inbox", func() *client { return m.a }, "usp/v1/agent/" + devB, codeNotAuthorized},
		{"device #", func() *client { return m.a }, "#", codeNotAuthorized},
		{"device +", func() *client { return m.a }, "+", codeNotAuthorized},
		{"device agent/#", func() *client { return m.a }, "usp/v1/agent/#", codeNotAuthorized},
		{"device agent/+", func() *client { return m.a }, "usp/v1/agent/+", codeNotAuthorized},
		{"device shared other inbox", func() *client { return m.a }, "$share/x/usp/v1/agent/" + devB, codeNotAuthorized},
		{"device shared own inbox", func() *client { return m.a }, "$share/x/usp/v1/agent/" + devA, codeNotAuthorized},
		{"device $SYS", func() *client { return m.a }, "$SYS/#", codeNotAuthorized},
		{"device controller inbox", func() *client { return m.a }, "usp/v1/controller/" + ctlC, codeNotAuthorized},
		{"device controller wildcard", func() *client { return m.a }, "usp/v1/controller/+", codeNotAuthorized},
		{"controller own inbox", func() *client { return m.c }, "usp/v1/controller/" + ctlC, codeGrantedQoS1},
		{"controller shared own inbox", func() *client { return m.c }, "$share/replicas/usp/v1/controller/" + ctlC, codeGrantedQoS1},
		{"controller agent/#", func() *client { return m.c }, "usp/v1/agent/#", codeNotAuthorized},
		{"controller device inbox", func() *client { return m.c }, "usp/v1/agent/" + devA, codeNotAuthorized},
		{"controller #", func() *client { return m.c }, "#", codeNotAuthorized},
		{"admin #", func() *client { return m.op }, "#", codeGrantedQoS1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.who().subscribe(t, c.filter, 1); got != c.want {
				t.Errorf("SUBACK 0x%02x, want 0x%02x", got, c.want)
			}
		})
	}
}

func TestACLPublishMatrix(t *testing.T) {
	m := startMatrix(t)
	valid := record(t, devA, ctlC)
	cases := []struct {
		name     string
		who      func() *client
		pub      *paho.Publish
		want     byte
		receiver func() *client // who must get it; nil = nobody but the admin watcher
	}{
		{"device to controller", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 1, Payload: valid}, codeSuccess, func() *client { return m.c }},
		{"device to other device", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/agent/" + devB, QoS: 1, Payload: valid}, codeNotAuthorized, nil},
		{"device to own inbox", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: valid}, codeNotAuthorized, nil},
		{"device to unknown controller", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/controller/self::nope", QoS: 1, Payload: record(t, devA, "self::nope")}, codeNotAuthorized, nil},
		{"device retained", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 1, Retain: true, Payload: valid}, codeNotAuthorized, nil},
		{"device spoofed from_id", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 1, Payload: record(t, devB, ctlC)}, codeNotAuthorized, nil},
		{"device unparsable record", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 1, Payload: []byte("hello")}, codePayloadInvalid, nil},
		{"device spoofed from_id qos0", func() *client { return m.a },
			&paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 0, Payload: record(t, devB, ctlC)}, codeSuccess, nil},
		{"device to $SYS", func() *client { return m.a },
			&paho.Publish{Topic: "$SYS/broker/x", QoS: 1, Payload: valid}, codeNotAuthorized, nil},
		{"controller to device", func() *client { return m.c },
			&paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: record(t, ctlC, devA)}, codeSuccess, func() *client { return m.a }},
		{"controller retained", func() *client { return m.c },
			&paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Retain: true, Payload: record(t, ctlC, devA)}, codeNotAuthorized, nil},
		{"controller to agent wildcard", func() *client { return m.c },
			&paho.Publish{Topic: "usp/v1/agent/x/y", QoS: 1, Payload: record(t, ctlC, devA)}, codeNotAuthorized, nil},
		{"controller to controller", func() *client { return m.c },
			&paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: 1, Payload: record(t, ctlC, ctlC)}, codeNotAuthorized, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.drainAll()
			if got := c.who().publish(t, c.pub); got != c.want {
				t.Fatalf("PUBACK 0x%02x, want 0x%02x", got, c.want)
			}
			if c.receiver != nil {
				got := c.receiver().expect(t)
				if got.Topic != c.pub.Topic || string(got.Payload) != string(c.pub.Payload) {
					t.Errorf("received %s %x", got.Topic, got.Payload)
				}
				m.op.expect(t) // the admin watcher sees everything delivered
			}
			for _, other := range []*client{m.a, m.b, m.c} {
				if c.receiver == nil || other != c.receiver() {
					other.expectNone(t, 50*time.Millisecond)
				}
			}
			if c.receiver == nil {
				m.op.expectNone(t, 50*time.Millisecond)
			}
		})
	}
}

func TestConnectMatrix(t *testing.T) {
	// Every case comes from 127.0.0.1: keep the brute-force defence out of
	// the way (it has its own test).
	e := startEnv(t, func(c *Config) { c.Lockout.MaxFailures = 1000 })
	secA := e.addCred(creds.RoleDevice, devA, "")
	secB := e.addCred(creds.RoleDevice, devB, "")
	secC := e.addCred(creds.RoleController, ctlC, "")
	e.addCred(creds.RoleController, "self::ctl2", "")
	secOff := e.addCred(creds.RoleDevice, "os::012345-OFF", "")
	if err := e.store.SetDisabled(t.Context(), "os::012345-OFF", true); err != nil {
		t.Fatal(err)
	}
	e.waitFor(func() bool { c, _ := e.mirror.Lookup("os::012345-OFF"); return c.Disabled }, "disabled in mirror")
	cases := []struct {
		name string
		o    dialOpts
		want byte
	}{
		{"anonymous", dialOpts{}, codeNotAuthorized},
		{"wrong password", dialOpts{username: devA, password: "not-the-secret"}, codeBadUserPass},
		{"unknown user", dialOpts{username: "os::012345-ZZ", password: secA}, codeBadUserPass},
		{"other device's secret", dialOpts{username: devA, password: secB}, codeBadUserPass},
		{"disabled credential", dialOpts{username: "os::012345-OFF", password: secOff}, codeNotAuthorized},
		{"client-id takeover", dialOpts{username: devB, password: secB, clientID: devA}, codeClientIDInvalid},
		{"arbitrary client id", dialOpts{username: devA, password: secA, clientID: "my-client"}, codeClientIDInvalid},
		{"endpoint property mismatch", dialOpts{username: devA, password: secA, endpointProp: devB}, codeNotAuthorized},
		{"controller takes other controller id", dialOpts{username: ctlC, password: secC, clientID: "self::ctl2"}, codeClientIDInvalid},
		{"device own client id", dialOpts{username: devA, password: secA, clientID: devA, endpointProp: devA}, codeSuccess},
		{"controller replica id", dialOpts{username: ctlC, password: secC, clientID: ctlC + "/replica-2"}, codeSuccess},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl, code, err := e.dial(c.o)
			if err != nil {
				t.Fatal(err)
			}
			if code != c.want {
				t.Fatalf("CONNACK 0x%02x, want 0x%02x", code, c.want)
			}
			if (cl != nil) != (c.want == codeSuccess) {
				t.Fatalf("client returned = %v", cl != nil)
			}
		})
	}
}

// TestConnackTopics checks the USP conveniences: an empty client ID is
// replaced by the endpoint ID, and the inbox comes back as Response
// Information and the subscribe-topic user property.
func TestConnackTopics(t *testing.T) {
	e := startEnv(t, nil)
	sec := e.addCred(creds.RoleDevice, devA, "")
	c := e.mustDial(dialOpts{username: devA, password: sec, responseInfo: true})
	p := c.connack.Properties
	if p == nil {
		t.Fatal("CONNACK has no properties")
	}
	if p.AssignedClientID != devA {
		t.Errorf("assigned client id %q, want %q", p.AssignedClientID, devA)
	}
	if p.ResponseInfo != "usp/v1/agent/"+devA {
		t.Errorf("response information %q", p.ResponseInfo)
	}
	if got := p.User.Get("subscribe-topic"); got != "usp/v1/agent/"+devA {
		t.Errorf("subscribe-topic %q", got)
	}
	// Without Request Response Information the topic still comes as a user
	// property, which is how agents that do not ask learn it.
	c2 := e.mustDial(dialOpts{username: devA, password: sec})
	if c2.connack.Properties.ResponseInfo != "" {
		t.Errorf("response information sent unasked: %q", c2.connack.Properties.ResponseInfo)
	}
	if got := c2.connack.Properties.User.Get("subscribe-topic"); got != "usp/v1/agent/"+devA {
		t.Errorf("subscribe-topic %q", got)
	}
}
