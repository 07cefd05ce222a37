package mqttmtp

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/broker/creds"
	"cuttle/internal/testutil"
	"cuttle/usp"
)

// TestBadInput has one device send every kind of bad input while another
// device is queried, and checks that each is counted and that the other
// device's requests never fail.
func TestBadInput(t *testing.T) {
	e := startEnv(t, nil)
	devs := startFleet(e, "b", 2, fleetOpts{})
	bad, good := devs[0], devs[1]
	handled := make(chan Incoming, 100)
	c := e.startClient(func(c *Config) { c.Handler = func(in Incoming) { handled <- in } })

	// Keep the good device busy throughout.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var okCount int
	var goodErr error
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := c.Get(ctxTimeout(t, 5*time.Second), good.eid, usp.NewGet(0, "Device.DeviceInfo."))
			if err == nil {
				err = checkGet(r, good.eid, "Device.DeviceInfo.")
			}
			if err != nil {
				goodErr = err
				return
			}
			okCount++
		}
	})

	// The broker passes these on: their Record header is valid.
	bad.sendRecord(bad.record(ctlEID, "1.3", []byte{0xff, 0xff, 0xff})) // payload is not a Msg
	bad.sendRecord(bad.record(ctlEID, "9.9", []byte{0x0a, 0x00}))       // unsupported version
	bad.sendRecord(bad.record("self::someone-else", "1.3", []byte{0x0a}))
	for range 20 { // a flood of the same: counted each time, logged once
		bad.sendRecord(bad.record(ctlEID, "1.3", []byte{0xff}))
	}
	// An admin may publish anything, even bytes that are no Record, and a
	// wrong Content Type.
	admin := dialAdmin(t, e)
	for _, p := range []*paho.Publish{
		{Topic: "usp/v1/controller/" + ctlEID, QoS: 1, Payload: []byte("not a record")},
		{Topic: "usp/v1/controller/" + ctlEID, QoS: 1, Payload: []byte("{}"), Properties: &paho.PublishProperties{ContentType: "application/json"}},
	} {
		if _, err := admin.Publish(ctxTimeout(t, 5*time.Second), p); err != nil {
			t.Fatal(err)
		}
	}
	// A response the device cannot have been asked for.
	bad.publishMsg("usp/v1/controller/"+ctlEID, "never-sent", &usp.GetResp{}, nil)
	// Responses that cannot satisfy their request fail it at once.
	_, err := c.Get(ctxTimeout(t, 5*time.Second), bad.eid, usp.NewGet(0, "Device.WrongType."))
	if !errors.Is(err, ErrUnexpectedResponse) {
		t.Errorf("wrong response type: %v, want ErrUnexpectedResponse", err)
	}
	_, err = c.Get(ctxTimeout(t, 5*time.Second), bad.eid, usp.NewGet(0, "Device.Malformed."))
	if !errors.Is(err, ErrUnexpectedResponse) {
		t.Errorf("malformed response: %v, want ErrUnexpectedResponse", err)
	}

	testutil.Eventually(t, 5*time.Second, "bad input counted", func() bool {
		return counter(c.metrics.malformed.WithLabelValues("msg")) == 22 &&
			counter(c.metrics.malformed.WithLabelValues("record")) == 2 &&
			counter(c.metrics.malformed.WithLabelValues("content_type")) == 1 &&
			counter(c.metrics.ignored.WithLabelValues("to_id")) == 1 &&
			counter(c.metrics.unknownID) == 1
	})
	close(stop)
	wg.Wait()
	if goodErr != nil || okCount == 0 {
		t.Errorf("good device: %d answers, then %v", okCount, goodErr)
	}
	// Only the unknown response reaches the handler.
	select {
	case in := <-handled:
		if in.Msg == nil || in.Msg.ID != "never-sent" {
			t.Errorf("handler got %+v", in)
		}
	case <-time.After(time.Second):
		t.Error("the unknown response did not reach the handler")
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("Pending() = %d", p)
	}
}

// TestWrongSender checks that a device cannot answer another device's
// request, even with the right msg_id.
func TestWrongSender(t *testing.T) {
	e := startEnv(t, nil)
	devs := startFleet(e, "w", 2, fleetOpts{})
	c := e.startClient(func(c *Config) { c.Timeout = 2 * time.Second })

	res := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), devs[0].eid, usp.NewGet(0, "Device.Silent."))
		res <- err
	}()
	testutil.Eventually(t, 5*time.Second, "request at device 0", func() bool { return len(devs[0].requestsSeen()) == 1 })
	id := decodeMsg(t, devs[0].requestsSeen()[0]).ID
	devs[1].publishMsg("usp/v1/controller/"+ctlEID, id, &usp.GetResp{}, []byte(id))
	testutil.Eventually(t, 5*time.Second, "spoofed answer counted", func() bool { return counter(c.metrics.unknownID) == 1 })
	if c.Pending() != 1 {
		t.Errorf("Pending() = %d, want the request still waiting", c.Pending())
	}
	devs[0].publishMsg("usp/v1/controller/"+ctlEID, id, devs[0].getResp(usp.NewGet(0, "Device.Silent.")), []byte(id))
	if err := <-res; err != nil {
		t.Errorf("Get after the right device answered: %v", err)
	}
}

// TestCorrelationMismatch checks the documented decision: a response whose
// Correlation Data differs from its msg_id is counted and still matched.
func TestCorrelationMismatch(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "m", 1, fleetOpts{})[0]
	c := e.startClient(nil)

	res := make(chan error, 1)
	go func() {
		_, err := c.Get(ctxTimeout(t, 5*time.Second), d.eid, usp.NewGet(0, "Device.Silent."))
		res <- err
	}()
	testutil.Eventually(t, 5*time.Second, "request at the device", func() bool { return len(d.requestsSeen()) == 1 })
	id := decodeMsg(t, d.requestsSeen()[0]).ID
	d.publishMsg("usp/v1/controller/"+ctlEID, id, d.getResp(usp.NewGet(0, "Device.Silent.")), []byte("something else"))
	if err := <-res; err != nil {
		t.Errorf("Get: %v", err)
	}
	if got := counter(c.metrics.corrMism); got != 1 {
		t.Errorf("correlation mismatches = %v, want 1", got)
	}
}

// dialAdmin connects a raw MQTT client with admin rights.
func dialAdmin(t *testing.T, e *env) *paho.Client {
	t.Helper()
	secret := e.addCred(creds.RoleAdmin, "", "admin")
	conn, err := net.Dial("tcp", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	cli := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := cli.Connect(ctxTimeout(t, 5*time.Second), &paho.Connect{
		ClientID: "admin", KeepAlive: 30, CleanStart: true,
		Username: "admin", UsernameFlag: true, Password: []byte(secret), PasswordFlag: true,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Disconnect(&paho.Disconnect{}) })
	return cli
}

// FuzzReceive feeds arbitrary payloads and Content Types to the receive
// path: it must never panic, never leave a pending entry and never reach
// the handler with a Record that is not addressed to the controller.
func FuzzReceive(f *testing.F) {
	for _, b := range []usp.Body{&usp.GetResp{}, usp.NewNotify("s", true, &usp.ValueChange{Path: "Device.X", Value: "1"}), &usp.ErrorMsg{}} {
		rec, err := usp.NewMsgRecord("self::dev", DefaultEndpointID, "id-1", b)
		if err != nil {
			f.Fatal(err)
		}
		p, err := rec.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p, "usp.msg")
	}
	p, _ := usp.NewMQTTConnectRecord("self::dev", DefaultEndpointID, "usp/v1/agent/self::dev").Marshal()
	f.Add(p, "")
	f.Add([]byte{0x0a, 0x03, '1', '.', '3'}, "application/vnd.bbf.usp.msg")

	var bad atomic.Bool
	c, err := New(Config{
		Brokers: []string{"mqtt://127.0.0.1:1"},
		Handler: func(in Incoming) {
			if in.Record == nil || in.Record.ToID != DefaultEndpointID {
				bad.Store(true)
			}
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	var wg sync.WaitGroup
	c.workers.run(&wg)
	f.Cleanup(func() { c.workers.stop(); wg.Wait() })
	want := (&usp.GetResp{}).MsgType()
	f.Fuzz(func(t *testing.T, payload []byte, contentType string) {
		c.pending.add("id-1", &pending{eid: "self::dev", want: want, done: make(chan outcome, 1)})
		c.receive(&paho.Publish{Topic: "t", Payload: payload, Properties: &paho.PublishProperties{ContentType: contentType}}, time.Now())
		c.pending.remove("id-1")
		if c.Pending() != 0 {
			t.Fatal("pending entry left")
		}
		if bad.Load() {
			t.Fatal("the handler got a Record not addressed to the controller")
		}
	})
}
