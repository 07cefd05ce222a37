package mqttmtp

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/controller/traffic"
	"cuttle/internal/testutil"
	"cuttle/usp"
)

// TestTrafficTap checks that a request and its response are recorded, in
// that order, with the PUBLISH's topic and properties, and that a
// malformed Record is recorded too.
func TestTrafficTap(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "tap", 1, fleetOpts{})[0]
	rec := traffic.New(traffic.Config{Size: 100})
	c := e.startClient(func(cfg *Config) { cfg.Traffic = rec })

	if _, err := c.Get(ctxTimeout(t, 10*time.Second), d.eid, usp.NewGet(0, "Device.DeviceInfo.")); err != nil {
		t.Fatal(err)
	}
	var out, in *traffic.Message
	testutil.Eventually(t, 10*time.Second, "the request and its response recorded", func() bool {
		for _, en := range rec.Query(traffic.Filter{EndpointID: d.eid}) {
			m := en.Message()
			switch {
			case m.MsgType == "GET" && m.Direction == traffic.Out:
				out = &m
			case m.MsgType == "GET_RESP" && m.Direction == traffic.In:
				in = &m
			}
		}
		return out != nil && in != nil
	})
	if out.ID >= in.ID || out.MsgID != in.MsgID {
		t.Errorf("request %d (%s) and response %d (%s) out of order or unmatched", out.ID, out.MsgID, in.ID, in.MsgID)
	}
	_, devInbox := d.client()
	if out.Topic != devInbox || out.Properties.ResponseTopic != c.Inbox() || out.Properties.CorrelationData != out.MsgID ||
		out.Properties.ContentType != ContentType || len(out.Properties.UserProperties) != 2 || out.QoS != 1 {
		t.Errorf("request recorded as %+v", out)
	}
	if in.Topic != c.Inbox() || in.EndpointID != d.eid || in.Error != "" || in.Msg == nil {
		t.Errorf("response recorded as %+v", in)
	}

	// A Record whose payload is not a Msg, and bytes that are no Record.
	d.sendRecord(d.record(ctlEID, "1.3", []byte{0xff, 0xff, 0xff}))
	admin := dialAdmin(t, e)
	if _, err := admin.Publish(ctxTimeout(t, 5*time.Second), &paho.Publish{Topic: c.Inbox(), QoS: 1, Payload: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	var badMsg, notRecord bool
	testutil.Eventually(t, 10*time.Second, "the malformed publishes recorded", func() bool {
		for _, en := range rec.Query(traffic.Filter{}) {
			m := en.Message()
			switch {
			case m.Direction != traffic.In:
			case m.EndpointID == d.eid && m.MsgType == "" && m.RecordType == "no_session_context":
				badMsg = m.Error != "" && m.Record != nil && m.Msg == nil
			case m.Size == len("garbage"):
				notRecord = m.Error != "" && m.Record == nil && m.EndpointID == ""
			}
		}
		return badMsg && notRecord
	})
}

// BenchmarkGetRoundTripTraffic measures what the traffic inspector costs
// a USP Get round trip (as BenchmarkGetRoundTrip) through one broker and
// device: tap=off, tap=on (recorded, nobody looking) and tap=on+reader (a
// live subscriber decoding every message to JSON, as an open inspector
// page does). Compare the sub-benchmarks' ns/op and p50:
//
//	go test -run '^$' -bench 'GetRoundTripTraffic' -benchtime 3000x -count 3 ./controller/mqttmtp/
func BenchmarkGetRoundTripTraffic(b *testing.B) {
	e := startEnv(b, nil)
	d := startFleet(e, "bench", 1, fleetOpts{})[0]
	get := usp.NewGet(0, benchPath)
	run := func(b *testing.B, rec *traffic.Recorder) {
		c := e.startClient(func(cfg *Config) { cfg.Traffic = rec })
		defer c.stop()
		ctx := context.Background()
		// Warm up the connection and the device's reply topic.
		if _, err := c.Get(ctx, d.eid, get); err != nil {
			b.Fatal(err)
		}
		measure(b, func() error {
			_, err := c.Get(ctx, d.eid, get)
			return err
		})
	}
	b.Run("tap=off", func(b *testing.B) { run(b, nil) })
	b.Run("tap=on", func(b *testing.B) { run(b, traffic.New(traffic.Config{})) })
	b.Run("tap=on+reader", func(b *testing.B) {
		rec := traffic.New(traffic.Config{})
		sub, _ := rec.Subscribe(traffic.Filter{}, false)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case en := <-sub.C():
					_ = en.JSON()
				case <-stop:
					return
				}
			}
		}()
		run(b, rec)
		sub.Close()
		close(stop)
		<-done
	})
}
