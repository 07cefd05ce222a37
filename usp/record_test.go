package usp

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"cuttle/proto/usprecord"
	"cuttle/usp/usperr"
)

func marshalPB(t *testing.T, r *usprecord.Record) []byte {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRecordValidation(t *testing.T) {
	msg := &usprecord.Record_NoSessionContext{NoSessionContext: &usprecord.NoSessionContextRecord{Payload: []byte{1}}}
	ok := func(mod func(r *usprecord.Record)) *usprecord.Record {
		r := &usprecord.Record{Version: "1.3", ToId: "to", FromId: "from", RecordType: msg}
		if mod != nil {
			mod(r)
		}
		return r
	}
	cases := []struct {
		name string
		rec  *usprecord.Record
		want usperr.Code // 0 = valid
	}{
		{"valid", ok(nil), 0},
		{"version 1.0", ok(func(r *usprecord.Record) { r.Version = "1.0" }), 0},
		{"version 1.4", ok(func(r *usprecord.Record) { r.Version = "1.4" }), 0},
		{"version 1.5", ok(func(r *usprecord.Record) { r.Version = "1.5" }), usperr.InvalidRecordValue},
		{"version 2.0", ok(func(r *usprecord.Record) { r.Version = "2.0" }), usperr.InvalidRecordValue},
		{"no version", ok(func(r *usprecord.Record) { r.Version = "" }), usperr.InvalidRecordValue},
		{"no to_id", ok(func(r *usprecord.Record) { r.ToId = "" }), usperr.InvalidRecordValue},
		{"no from_id", ok(func(r *usprecord.Record) { r.FromId = "" }), usperr.InvalidRecordValue},
		{"no record type", ok(func(r *usprecord.Record) { r.RecordType = nil }), usperr.InvalidRecordValue},
		{"empty payload", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_NoSessionContext{NoSessionContext: &usprecord.NoSessionContextRecord{}}
		}), usperr.InvalidRecordValue},
		{"tls12 payload security", ok(func(r *usprecord.Record) { r.PayloadSecurity = usprecord.Record_TLS12 }), usperr.SecureSessionNotSupported},
		{"session context", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_SessionContext{SessionContext: &usprecord.SessionContextRecord{SessionId: 1, Payload: [][]byte{{1}}}}
		}), usperr.SessionContextNotAllowed},
		{"mqtt connect", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_MqttConnect{MqttConnect: &usprecord.MQTTConnectRecord{Version: usprecord.MQTTConnectRecord_V5, SubscribedTopic: "usp/v1/agent/x"}}
		}), 0},
		{"mqtt connect no topic", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_MqttConnect{MqttConnect: &usprecord.MQTTConnectRecord{}}
		}), usperr.InvalidRecordValue},
		{"mqtt connect wildcard topic", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_MqttConnect{MqttConnect: &usprecord.MQTTConnectRecord{SubscribedTopic: "usp/+/x"}}
		}), usperr.InvalidRecordValue},
		{"mqtt connect unknown version", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_MqttConnect{MqttConnect: &usprecord.MQTTConnectRecord{Version: 7, SubscribedTopic: "t"}}
		}), usperr.InvalidRecordValue},
		{"websocket connect", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_WebsocketConnect{WebsocketConnect: &usprecord.WebSocketConnectRecord{}}
		}), 0},
		{"stomp connect", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_StompConnect{StompConnect: &usprecord.STOMPConnectRecord{SubscribedDestination: "d"}}
		}), 0},
		{"uds connect", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_UdsConnect{UdsConnect: &usprecord.UDSConnectRecord{}}
		}), 0},
		{"disconnect", ok(func(r *usprecord.Record) {
			r.RecordType = &usprecord.Record_Disconnect{Disconnect: &usprecord.DisconnectRecord{Reason: "bye", ReasonCode: 7105}}
		}), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := marshalPB(t, c.rec)
			r, err := ParseRecord(b)
			if got := usperr.CodeOf(err); got != c.want {
				t.Fatalf("ParseRecord code = %v (%v), want %v", got, err, c.want)
			}
			if r == nil || r.FromID != c.rec.FromId || r.ToID != c.rec.ToId {
				t.Errorf("header not kept: %+v", r)
			}
			h, perr := PeekRecord(b)
			if c.want == 0 {
				if perr != nil || h != r.RecordHeader {
					t.Errorf("PeekRecord = %+v, %v; ParseRecord header %+v", h, perr, r.RecordHeader)
				}
			}
		})
	}
}

func TestParseRecordGarbage(t *testing.T) {
	for _, b := range [][]byte{{0xff}, {0x0a, 0x05, 'a'}, {0x12, 0x80}, []byte("not a record at all")} {
		if _, err := ParseRecord(b); usperr.CodeOf(err) != usperr.RecordNotParsed {
			t.Errorf("ParseRecord(%x) = %v, want 7100", b, err)
		}
		if _, err := PeekRecord(b); err == nil {
			t.Errorf("PeekRecord(%x) accepted garbage", b)
		}
	}
	if _, err := PeekRecord(nil); usperr.CodeOf(err) != usperr.InvalidRecordValue {
		t.Errorf("PeekRecord(nil) = %v", err)
	}
}

func TestRecordBuilders(t *testing.T) {
	cases := []*Record{
		NewMQTTConnectRecord("os::012345-A", "self::ctl", "usp/v1/agent/os::012345-A"),
		NewDisconnectRecord("os::012345-A", "self::ctl", "shutting down", usperr.SessionContextTerminated),
	}
	for _, want := range cases {
		b, err := want.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.RecordHeader != want.RecordHeader || got.Version != DefaultVersion {
			t.Errorf("header %+v, want %+v", got.RecordHeader, want.RecordHeader)
		}
		if want.MQTTConnect != nil && *got.MQTTConnect != *want.MQTTConnect {
			t.Errorf("mqtt_connect %+v, want %+v", got.MQTTConnect, want.MQTTConnect)
		}
		if want.Disconnect != nil && *got.Disconnect != *want.Disconnect {
			t.Errorf("disconnect %+v, want %+v", got.Disconnect, want.Disconnect)
		}
		if _, err := got.Message(); usperr.CodeOf(err) != usperr.InvalidRecordValue {
			t.Errorf("Message() of a %s record: %v", got.Kind, err)
		}
	}
	r, _ := NewMsgRecord("a", "b", "1", NewGet(0, "Device."))
	r.Version = "1.4"
	b, _ := r.Marshal()
	if got, err := ParseRecord(b); err != nil || got.Version != "1.4" {
		t.Errorf("configured version not sent: %+v %v", got, err)
	}
	for _, bad := range []*Record{{RecordHeader: RecordHeader{Kind: KindMsg}}, {RecordHeader: RecordHeader{Kind: KindSessionContext}}, {RecordHeader: RecordHeader{Kind: KindMQTTConnect}}} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("Marshal of %s record without content succeeded", bad.Kind)
		}
	}
}

func TestIDGenUnique(t *testing.T) {
	a, b := NewIDGen("ctl-"), NewIDGen("ctl-")
	seen := map[string]bool{}
	const n = 2000
	done := make(chan []string)
	for _, g := range []*IDGen{a, a, b} {
		go func(g *IDGen) {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = g.Next()
			}
			done <- ids
		}(g)
	}
	for range 3 {
		for _, id := range <-done {
			if seen[id] {
				t.Fatalf("duplicate msg_id %q", id)
			}
			seen[id] = true
		}
	}
	if id := a.Next(); len(id) < len("ctl-")+16 || id[:4] != "ctl-" {
		t.Errorf("unexpected id form %q", id)
	}
	if first, second := NewMsgID(), NewMsgID(); first == second {
		t.Errorf("NewMsgID repeated itself: %q", first)
	}
}
