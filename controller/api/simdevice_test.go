package api_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/broker/creds"
	"cuttle/simulator/agent"
	"cuttle/usp"
)

// simDevice is a simulated device: a transport-free simulator agent behind
// a minimal MQTT 5 client, as a real agent connects (TR-369 MQTT binding):
// it learns its inbox from the CONNACK, subscribes, sends the mqtt_connect
// Record to the controller, answers requests on their Response Topic and
// publishes the agent's notifications. A reboot is done in place: the
// agent reboots without the connection dropping.
type simDevice struct {
	eid    string
	secret string
	agent  *agent.Agent
	cli    *paho.Client
	inbox  string

	goneOnce sync.Once
	// gone is closed when the connection ends for any reason other than
	// the test's cleanup (the broker disconnected it, say).
	gone chan struct{}
}

// ctlTopic is where the controller receives Records.
const ctlTopic = "usp/v1/controller/" + ctlEID

// startDevice provisions a device credential for eid and connects the
// device; it runs until the test's cleanup.
func (e *env) startDevice(eid string, index int) *simDevice {
	e.t.Helper()
	return e.connectDevice(eid, e.addCred(creds.RoleDevice, eid), index)
}

// connectDevice connects a simulated device with the given secret.
func (e *env) connectDevice(eid, secret string, index int) *simDevice {
	e.t.Helper()
	d := &simDevice{eid: eid, secret: secret, gone: make(chan struct{})}
	var err error
	d.agent, err = agent.New(agent.Config{
		EndpointID:  eid,
		Profile:     e.profile,
		Index:       index,
		Controllers: []agent.Controller{{EndpointID: ctlEID, Topic: ctlTopic}},
		Outbox:      d.notify,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := d.connect(e.t, e.broker.Addr("tcp"), secret); err != nil {
		e.t.Fatalf("device %s: %v", eid, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.tick(ctx) })
	e.t.Cleanup(func() {
		cancel()
		wg.Wait()
		d.goneOnce.Do(func() {}) // the disconnect below is ours
		_ = d.cli.Disconnect(&paho.Disconnect{})
	})
	return d
}

// tryConnect reports whether the broker accepts eid with secret, without
// keeping the connection.
func (e *env) tryConnect(eid, secret string) error {
	e.t.Helper()
	a, err := agent.New(agent.Config{EndpointID: eid, Profile: e.profile})
	if err != nil {
		e.t.Fatal(err)
	}
	d := &simDevice{eid: eid, agent: a, gone: make(chan struct{})}
	if err := d.connect(e.t, e.broker.Addr("tcp"), secret); err != nil {
		return err
	}
	d.goneOnce.Do(func() {})
	return d.cli.Disconnect(&paho.Disconnect{})
}

func (d *simDevice) connect(t *testing.T, addr, secret string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	d.cli = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			d.receive(pr.Packet)
			return true, nil
		}},
		OnServerDisconnect: func(*paho.Disconnect) { d.lost() },
		OnClientError:      func(error) { d.lost() },
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := d.cli.Connect(ctx, &paho.Connect{
		ClientID: d.eid, KeepAlive: 30, CleanStart: true,
		Username: d.eid, UsernameFlag: true, Password: []byte(secret), PasswordFlag: true,
		Properties: &paho.ConnectProperties{RequestResponseInfo: true},
	})
	if err != nil {
		_ = conn.Close()
		return err
	}
	d.inbox = "usp/v1/agent/" + d.eid
	if ca.Properties != nil {
		if ri := ca.Properties.ResponseInfo; ri != "" {
			d.inbox = ri
		} else if st := ca.Properties.User.Get("subscribe-topic"); st != "" {
			d.inbox = st
		}
	}
	if _, err := d.cli.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: d.inbox, QoS: 1}}}); err != nil {
		return err
	}
	// R-MTP.6: the controller learns of the device, and its reply-to
	// topic, from the mqtt_connect Record.
	rec := usp.NewMQTTConnectRecord(d.eid, ctlEID, d.inbox)
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	_, err = d.cli.Publish(ctx, d.packet(ctlTopic, b, nil))
	return err
}

func (d *simDevice) lost() { d.goneOnce.Do(func() { close(d.gone) }) }

// receive handles a PUBLISH to the device's inbox.
func (d *simDevice) receive(p *paho.Publish) {
	rec, err := usp.ParseRecord(p.Payload)
	if err != nil || rec.ToID != d.eid || rec.FromID != ctlEID || rec.Kind != usp.KindMsg {
		return
	}
	msg, err := rec.Message()
	if err != nil {
		return
	}
	reply := d.agent.Handle(rec.FromID, msg)
	if reply == nil {
		return
	}
	topic, corr := ctlTopic, []byte(nil)
	if p.Properties != nil {
		if p.Properties.ResponseTopic != "" {
			topic = p.Properties.ResponseTopic
		}
		corr = p.Properties.CorrelationData
	}
	d.publish(topic, rec.FromID, msg.ID, reply, corr)
}

// notify is the agent's outbox.
func (d *simDevice) notify(to string, m usp.Message) {
	d.publish(ctlTopic, to, m.ID, m.Body, nil)
}

// publish sends a Msg without waiting for the PUBACK: it may run on
// paho's receiving goroutine, which must not block on the broker.
func (d *simDevice) publish(topic, to, msgID string, body usp.Body, corr []byte) {
	rec, err := usp.NewMsgRecord(d.eid, to, msgID, body)
	if err != nil {
		return
	}
	b, err := rec.Marshal()
	if err != nil {
		return
	}
	_, _ = d.cli.PublishWithOptions(context.Background(), d.packet(topic, b, corr), paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
}

func (d *simDevice) packet(topic string, payload, corr []byte) *paho.Publish {
	return &paho.Publish{Topic: topic, QoS: 1, Payload: payload, Properties: &paho.PublishProperties{
		ContentType: "usp.msg", ResponseTopic: d.inbox, CorrelationData: corr,
	}}
}

// tick moves the agent's time on (firmware downloads finish, notifications
// are retried) and carries out reboots, until ctx ends.
func (d *simDevice) tick(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.agent.Tick(now)
			if pending, _ := d.agent.Rebooting(); pending {
				d.agent.Rebooted()
			}
		}
	}
}
