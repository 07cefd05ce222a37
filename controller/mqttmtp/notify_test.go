package mqttmtp

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"cuttle/internal/testutil"
	"cuttle/usp"
)

// TestNotifyAndReply sends a Notify from a device: it reaches the Handler,
// whose Reply delivers a NotifyResp with the same msg_id and the echoed
// Correlation Data to the device's Response Topic.
func TestNotifyAndReply(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "n", 1, fleetOpts{})[0]
	handled := make(chan Incoming, 10)
	var client atomic.Pointer[running] // set before any Notify is sent
	c := e.startClient(func(cfg *Config) {
		cfg.Handler = func(in Incoming) {
			handled <- in
			if n, ok := in.Msg.Body.(*usp.Notify); ok && n.SendResp {
				if err := client.Load().Reply(context.Background(), in, usp.NewNotifyResp(n.SubscriptionID)); err != nil {
					t.Errorf("Reply: %v", err)
				}
			}
		}
	})

	client.Store(c)
	id := d.notify(true, &usp.ValueChange{Path: "Device.DeviceInfo.SoftwareVersion", Value: "2.0"})
	var in Incoming
	select {
	case in = <-handled:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify did not reach the handler")
	}
	_, inbox := d.client()
	switch n, ok := in.Msg.Body.(*usp.Notify); {
	case !ok || in.Msg.ID != id:
		t.Fatalf("handler got %+v", in.Msg)
	case n.Notification.(*usp.ValueChange).Value != "2.0":
		t.Errorf("notification %+v", n.Notification)
	case in.ResponseTopic != inbox || in.Topic != "usp/v1/controller/"+ctlEID || in.ContentType != "usp.msg" || in.Record.FromID != d.eid:
		t.Errorf("incoming %+v", in)
	case in.Received.IsZero() || !bytes.Equal(in.CorrelationData, []byte("corr-"+id)):
		t.Errorf("incoming %+v", in)
	}

	testutil.Eventually(t, 5*time.Second, "NotifyResp at the device", func() bool { return len(d.received()) == 1 })
	p := d.received()[0]
	m := decodeMsg(t, p)
	if r, ok := m.Body.(*usp.NotifyResp); !ok || r.SubscriptionID != "sub-1" || m.ID != id {
		t.Errorf("device got %v %+v, want NotifyResp for %s", m.ID, m.Body, id)
	}
	if !bytes.Equal(p.Properties.CorrelationData, []byte("corr-"+id)) || p.Topic != inbox {
		t.Errorf("NotifyResp on %q with correlation %q", p.Topic, p.Properties.CorrelationData)
	}

	// A Notify without send_resp is handled and not answered.
	d.notify(false, &usp.Event{ObjPath: "Device.", Name: "Boot!"})
	select {
	case in := <-handled:
		if ev, ok := in.Msg.Body.(*usp.Notify).Notification.(*usp.Event); !ok || ev.Name != "Boot!" {
			t.Errorf("handler got %+v", in.Msg.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Boot! did not reach the handler")
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(d.received()); n != 1 {
		t.Errorf("device got %d answers, want only the first NotifyResp", n)
	}

	// Reply refuses what is not an answer.
	if err := c.Reply(context.Background(), in, usp.NewGet(0, "Device.")); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Reply with a Get: %v", err)
	}
	if err := c.Reply(context.Background(), Incoming{}, usp.NewNotifyResp("s")); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Reply without a Msg: %v", err)
	}
}

// TestConnectRecords checks that mqtt_connect and disconnect Records reach
// the Handler and that the reply topic of mqtt_connect is learned.
func TestConnectRecords(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "cr", 1, fleetOpts{})[0]
	handled := make(chan Incoming, 10)
	c := e.startClient(func(cfg *Config) { cfg.Handler = func(in Incoming) { handled <- in } })

	const topic = "usp/v1/agent/learned-topic"
	_, inbox := d.client()
	expect := func(want usp.RecordKind) {
		t.Helper()
		select {
		case in := <-handled:
			if in.Record.Kind != want || in.Msg != nil {
				t.Errorf("handler got %v (msg %v), want %v", in.Record.Kind, in.Msg, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v did not reach the handler", want)
		}
	}
	b, err := usp.NewMQTTConnectRecord(d.eid, ctlEID, topic).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d.publish("usp/v1/controller/"+ctlEID, b, "usp.msg", nil)
	expect(usp.KindMQTTConnect)
	// subscribed_topic is applied after the PUBLISH's Response Topic.
	if got := c.ReplyTopic(d.eid); got != topic {
		t.Errorf("reply topic after mqtt_connect %q, want %q", got, topic)
	}
	b, err = usp.NewDisconnectRecord(d.eid, ctlEID, "bye", 7105).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d.publish("usp/v1/controller/"+ctlEID, b, "", nil)
	expect(usp.KindDisconnect)
	// The latest claim wins: here the disconnect's Response Topic.
	if got := c.ReplyTopic(d.eid); got != inbox {
		t.Errorf("reply topic %q, want %q", got, inbox)
	}
	c.SetReplyTopic(d.eid, "usp/v1/agent/+")
	if got := c.ReplyTopic(d.eid); got != inbox {
		t.Errorf("a wildcard topic was learned: %q", got)
	}
	c.SetReplyTopic("self::other", topic)
	if got := c.ReplyTopic("self::other"); got != topic {
		t.Errorf("SetReplyTopic: %q", got)
	}
	if got := c.ReplyTopic("self::unknown"); got != "usp/v1/agent/self::unknown" {
		t.Errorf("default reply topic %q", got)
	}
}

// TestRequestTypes runs every typed helper and Send against the responder,
// which checks the properties of each PUBLISH (Response Topic,
// Correlation Data, Content Type, user properties, QoS).
func TestRequestTypes(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "rt", 1, fleetOpts{})[0]
	c := e.startClient(nil)
	ctx := ctxTimeout(t, 10*time.Second)

	if r, err := c.Add(ctx, d.eid, usp.NewAdd(false, usp.AddObject{Path: "Device.LocalAgent.Subscription."})); err != nil || r.Results[0].InstantiatedPath != "Device.LocalAgent.Subscription.7." {
		t.Errorf("Add = %+v, %v", r, err)
	}
	if r, err := c.Delete(ctx, d.eid, usp.NewDelete(false, "Device.LocalAgent.Subscription.7.")); err != nil || len(r.Results[0].Affected) != 1 {
		t.Errorf("Delete = %+v, %v", r, err)
	}
	op := usp.NewOperate("Device.Reboot()", "k1", false, nil)
	if r, err := c.Operate(ctx, d.eid, op); err != nil || r.Results[0].Output["EndpointID"] != d.eid {
		t.Errorf("Operate = %+v, %v", r, err)
	}
	if op.SendResp {
		t.Error("Operate changed its argument")
	}
	if _, err := c.Do(ctx, d.eid, op); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Do with an Operate without send_resp: %v", err)
	}
	if r, err := c.GetInstances(ctx, d.eid, usp.NewGetInstances(true, "Device.IP.Interface.")); err != nil || r.Results[0].Instances[0].Path != "Device.IP.Interface.1." {
		t.Errorf("GetInstances = %+v, %v", r, err)
	}
	if r, err := c.GetSupportedDM(ctx, d.eid, &usp.GetSupportedDM{Paths: []string{"Device."}}); err != nil || r.Results[0].RequestedPath != "Device." {
		t.Errorf("GetSupportedDM = %+v, %v", r, err)
	}
	if r, err := c.GetSupportedProtocol(ctx, d.eid, usp.NewGetSupportedProtocol("1.3", "1.4")); err != nil || len(r.Versions) != 2 {
		t.Errorf("GetSupportedProtocol = %+v, %v", r, err)
	}
	id, err := c.Send(ctx, d.eid, op)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "Send at the device", func() bool { return d.requests.Load() == 7 })
	if m := decodeMsg(t, d.requestsSeen()[6]); m.ID != id || m.Body.(*usp.Operate).SendResp {
		t.Errorf("sent %s %+v", m.ID, m.Body)
	}
	if _, err := c.Do(ctx, d.eid, &usp.GetResp{}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Do with a response: %v", err)
	}
	if _, err := c.Get(ctx, d.eid, nil); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Get(nil): %v", err)
	}
	if _, err := c.Get(ctx, "", usp.NewGet(0, "Device.")); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Get to no one: %v", err)
	}

	// Look at one PUBLISH closely; the responder checked all of them.
	p := d.requestsSeen()[0]
	m := decodeMsg(t, p)
	pp := p.Properties
	if pp.ResponseTopic != "usp/v1/controller/"+ctlEID || string(pp.CorrelationData) != m.ID || pp.ContentType != "usp.msg" ||
		pp.User.Get("usp-endpoint-id") != ctlEID || pp.User.Get("usp-msg-type") != "ADD" || p.QoS != 1 {
		t.Errorf("PUBLISH properties %+v, QoS %d", pp, p.QoS)
	}
}
