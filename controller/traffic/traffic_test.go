package traffic

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/usp"
)

func capture(eid string, dir Direction, payload []byte) Capture {
	return Capture{Time: time.Now(), Direction: dir, EndpointID: eid, Topic: "usp/v1/agent/" + eid, QoS: 1, Payload: payload}
}

func ids(list []*Entry) string {
	var out []string
	for _, e := range list {
		out = append(out, fmt.Sprint(e.ID()))
	}
	return strings.Join(out, ",")
}

func TestRing(t *testing.T) {
	r := New(Config{Size: 4})
	for i := range 6 {
		r.Record(capture(fmt.Sprintf("dev-%d", i%2), Out, nil))
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all, oldest first, the oldest two evicted", Filter{}, "3,4,5,6"},
		{"after", Filter{After: 4}, "5,6"},
		{"after the newest", Filter{After: 6}, ""},
		{"limit keeps the most recent", Filter{Limit: 3}, "4,5,6"},
		{"device", Filter{EndpointID: "dev-0"}, "3,5"},
		{"device and limit", Filter{EndpointID: "dev-1", Limit: 1}, "6"},
		{"unknown device", Filter{EndpointID: "dev-9"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(r.Query(tc.f)); got != tc.want {
				t.Errorf("Query(%+v) = %s, want %s", tc.f, got, tc.want)
			}
		})
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Record(capture("d", Out, nil))
	if r.Query(Filter{}) != nil || r.Size() != 0 || r.Subscribers() != 0 {
		t.Error("a nil Recorder holds something")
	}
	s, past := r.Subscribe(Filter{}, true)
	defer s.Close()
	if _, ok := <-s.C(); ok || past != nil {
		t.Error("a nil Recorder's subscription is not closed and empty")
	}
}

func TestSubscribe(t *testing.T) {
	r := New(Config{Size: 100, SubscriberBuffer: 4})
	for range 3 {
		r.Record(capture("a", Out, nil))
	}
	t.Run("replay then live, nothing missed or repeated", func(t *testing.T) {
		s, past := r.Subscribe(Filter{After: 1}, true)
		defer s.Close()
		if ids(past) != "2,3" {
			t.Fatalf("replay %s, want 2,3", ids(past))
		}
		r.Record(capture("a", In, nil))
		if e := <-s.C(); e.ID() != 4 {
			t.Fatalf("live message %d, want 4", e.ID())
		}
	})
	t.Run("no replay", func(t *testing.T) {
		s, past := r.Subscribe(Filter{}, false)
		defer s.Close()
		if len(past) != 0 {
			t.Fatalf("replay %s without asking", ids(past))
		}
	})
	t.Run("device filter", func(t *testing.T) {
		s, _ := r.Subscribe(Filter{EndpointID: "b"}, false)
		defer s.Close()
		r.Record(capture("a", Out, nil))
		r.Record(capture("b", Out, nil))
		if e := <-s.C(); e.EndpointID() != "b" {
			t.Fatalf("got a message of %q", e.EndpointID())
		}
	})
	t.Run("a slow subscriber loses messages and never blocks", func(t *testing.T) {
		s, _ := r.Subscribe(Filter{}, false)
		defer s.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 10 {
				r.Record(capture("a", Out, nil))
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Record blocked on a full subscriber")
		}
		if n := len(s.C()); n != 4 {
			t.Errorf("queue holds %d, want 4", n)
		}
		if lost := s.Lost(); lost != 6 {
			t.Errorf("lost %d, want 6", lost)
		}
		if lost := s.Lost(); lost != 0 {
			t.Errorf("Lost does not reset: %d", lost)
		}
	})
	t.Run("close", func(t *testing.T) {
		before := r.Subscribers()
		s, _ := r.Subscribe(Filter{}, false)
		s.Close()
		s.Close()
		if r.Subscribers() != before {
			t.Errorf("%d subscribers after close, want %d", r.Subscribers(), before)
		}
	})
}

func TestConcurrent(t *testing.T) {
	r := New(Config{Size: 50, SubscriberBuffer: 10})
	s, _ := r.Subscribe(Filter{}, false)
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 200 {
				r.Record(capture(fmt.Sprint(w), Out, []byte{0x0a}))
				_ = r.Query(Filter{Limit: 5})
			}
		})
	}
	var got uint64
	stop := make(chan struct{})
	reader := make(chan struct{})
	go func() {
		defer close(reader)
		for {
			select {
			case e := <-s.C():
				_ = e.JSON()
				got++
			case <-stop:
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-reader
	for len(s.C()) > 0 {
		<-s.C()
		got++
	}
	if got+s.Lost() != 800 {
		t.Errorf("delivered %d + lost %d, want 800", got, s.Lost())
	}
	if ids := r.Query(Filter{}); len(ids) != 50 || ids[len(ids)-1].ID() != 800 {
		t.Errorf("ring holds %d messages up to %d, want 50 up to 800", len(ids), ids[len(ids)-1].ID())
	}
}

func marshal(t testing.TB, rec *usp.Record) []byte {
	t.Helper()
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	get, err := usp.NewMsgRecord("self::ctl", "os::1", "m-1", usp.NewGet(0, "Device.DeviceInfo."))
	if err != nil {
		t.Fatal(err)
	}
	c := capture("os::1", Out, marshal(t, get))
	c.ResponseTopic = "usp/v1/controller/self::ctl"
	c.CorrelationData = []byte("m-1")
	c.ContentType = "usp.msg"
	c.UserProperties = []UserProperty{{"usp-msg-type", "GET"}}

	t.Run("get", func(t *testing.T) {
		e := &Entry{id: 7, c: c}
		m := e.Message()
		if m.ID != 7 || m.Direction != Out || m.MsgType != "GET" || m.MsgID != "m-1" || m.RecordType != "no_session_context" ||
			m.Error != "" || m.Size != len(c.Payload) || m.Properties.CorrelationData != "m-1" || m.Properties.CorrelationDataBase64 {
			t.Fatalf("decoded %+v", m)
		}
		var rec map[string]any
		if err := json.Unmarshal(m.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec["to_id"] != "os::1" || rec["from_id"] != "self::ctl" || rec["version"] != usp.DefaultVersion ||
			rec["payload_security"] != "PLAINTEXT" || fmt.Sprint(rec["no_session_context"]) != "map[]" {
			t.Errorf("record %s", m.Record)
		}
		if !strings.Contains(string(m.Msg), `"param_paths":["Device.DeviceInfo."]`) || !strings.Contains(string(m.Msg), `"msg_type":"GET"`) {
			t.Errorf("msg %s", m.Msg)
		}
		var generic map[string]any
		if err := json.Unmarshal(e.JSON(), &generic); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "time", "direction", "endpoint_id", "topic", "qos", "retain", "properties", "size", "record", "msg", "msg_type", "msg_id", "record_type", "error"} {
			if _, ok := generic[k]; !ok {
				t.Errorf("JSON lacks %q: %s", k, e.JSON())
			}
		}
	})
	t.Run("binary correlation data", func(t *testing.T) {
		c := c
		c.CorrelationData = []byte{0xff, 0x00}
		m := decode(1, c)
		if m.Properties.CorrelationData != "/wA=" || !m.Properties.CorrelationDataBase64 {
			t.Errorf("properties %+v", m.Properties)
		}
	})
	t.Run("mqtt_connect", func(t *testing.T) {
		m := decode(1, capture("os::1", In, marshal(t, usp.NewMQTTConnectRecord("os::1", "self::ctl", "usp/v1/agent/os::1"))))
		if m.RecordType != "mqtt_connect" || m.Msg != nil || m.MsgType != "" || m.Error != "" ||
			!strings.Contains(string(m.Record), `"subscribed_topic":"usp/v1/agent/os::1"`) {
			t.Errorf("decoded %+v, record %s", m, m.Record)
		}
		if b, _ := json.Marshal(m); !strings.Contains(string(b), `"msg":null`) {
			t.Errorf("msg is not null: %s", b)
		}
	})
	t.Run("not a record", func(t *testing.T) {
		m := decode(1, capture("", In, []byte("not protobuf \xff\xff")))
		if m.Error == "" || m.Record != nil || m.Msg != nil {
			t.Errorf("decoded %+v", m)
		}
	})
	t.Run("a record whose payload is not a msg", func(t *testing.T) {
		bad := &usp.Record{RecordHeader: usp.RecordHeader{FromID: "os::1", ToID: "self::ctl", Kind: usp.KindMsg}, Payload: []byte{0xff, 0xff, 0xff}}
		m := decode(1, capture("os::1", In, marshal(t, bad)))
		if !strings.Contains(m.Error, "not a USP Msg") || m.Record == nil || m.Msg != nil || m.RecordType != "no_session_context" {
			t.Errorf("decoded %+v", m)
		}
	})
}

func FuzzDecode(f *testing.F) {
	get, _ := usp.NewMsgRecord("self::ctl", "os::1", "m-1", usp.NewGet(0, "Device."))
	b, _ := get.Marshal()
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte("\x0a\x03"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := &Entry{c: Capture{Payload: payload}}
		var m map[string]any
		if err := json.Unmarshal(e.JSON(), &m); err != nil {
			t.Fatalf("JSON of %x does not decode: %v", payload, err)
		}
	})
}

// BenchmarkRecord is the cost on the MQTT client's hot path: with no
// subscriber, and with one that keeps up.
func BenchmarkRecord(b *testing.B) {
	get, _ := usp.NewMsgRecord("self::ctl", "os::1", "m-1", usp.NewGet(0, "Device.DeviceInfo."))
	c := capture("os::1", Out, marshal(b, get))
	c.UserProperties = []UserProperty{{"usp-endpoint-id", "self::ctl"}, {"usp-msg-type", "GET"}}
	b.Run("no-subscriber", func(b *testing.B) {
		r := New(Config{})
		b.ReportAllocs()
		for b.Loop() {
			r.Record(c)
		}
	})
	b.Run("subscriber", func(b *testing.B) {
		r := New(Config{})
		s, _ := r.Subscribe(Filter{}, false)
		defer s.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for e := range s.C() {
				if e == nil {
					return
				}
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			r.Record(c)
		}
		s.ch <- nil
		<-done
	})
}

// BenchmarkDecode is the cost of decoding a Get to JSON, paid once per
// message by whoever looks first, off the hot path.
func BenchmarkDecode(b *testing.B) {
	get, _ := usp.NewMsgRecord("self::ctl", "os::1", "m-1", usp.NewGet(0, "Device.DeviceInfo."))
	c := capture("os::1", Out, marshal(b, get))
	b.ReportAllocs()
	for b.Loop() {
		e := &Entry{c: c}
		_ = e.JSON()
	}
}
