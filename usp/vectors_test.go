package usp

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"cuttle/proto/uspmsg"
	"cuttle/proto/usprecord"
)

const (
	vecAgent      = "os::012345-OBUSPA0001"
	vecController = "self::usp-controller"
	vecGetID      = "get-1795295324437788265"
)

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseVector decodes a vector with both ParseRecord and PeekRecord and
// checks the header fields common to all of them.
func parseVector(t *testing.T, name, from, to string, kind RecordKind) *Record {
	t.Helper()
	b := readVector(t, name)
	r, err := ParseRecord(b)
	if err != nil {
		t.Fatalf("ParseRecord(%s): %v", name, err)
	}
	want := RecordHeader{Version: "1.3", FromID: from, ToID: to, Kind: kind}
	if r.RecordHeader != want {
		t.Errorf("%s header = %+v, want %+v", name, r.RecordHeader, want)
	}
	h, err := PeekRecord(b)
	if err != nil {
		t.Fatalf("PeekRecord(%s): %v", name, err)
	}
	if h != want {
		t.Errorf("%s peeked header = %+v, want %+v", name, h, want)
	}
	return r
}

func TestVectorMQTTConnect(t *testing.T) {
	r := parseVector(t, "agent-mqtt-connect-record.bin", vecAgent, vecController, KindMQTTConnect)
	want := &MQTTConnect{Version: MQTTv5, SubscribedTopic: "usp/agent/os::012345-OBUSPA0001"}
	if !reflect.DeepEqual(r.MQTTConnect, want) {
		t.Errorf("mqtt_connect = %+v, want %+v", r.MQTTConnect, want)
	}
	if r.Payload != nil || r.Disconnect != nil {
		t.Errorf("mqtt_connect record has other content: %+v", r)
	}
}

func TestVectorBootNotify(t *testing.T) {
	r := parseVector(t, "agent-boot-notify-record.bin", vecAgent, vecController, KindMsg)
	m, err := r.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "Event-2026-11-21T21:08:39Z-1" {
		t.Errorf("msg_id = %q", m.ID)
	}
	if m.Type() != uspmsg.Header_NOTIFY || !m.IsRequest() {
		t.Errorf("type = %v, request = %v", m.Type(), m.IsRequest())
	}
	n, ok := m.Body.(*Notify)
	if !ok {
		t.Fatalf("body is %T, want *Notify", m.Body)
	}
	if n.SubscriptionID != "boot-1" {
		t.Errorf("subscription_id = %q, want boot-1", n.SubscriptionID)
	}
	if n.SendResp {
		t.Error("send_resp = true, want false")
	}
	ev, ok := n.Notification.(*Event)
	if !ok {
		t.Fatalf("notification is %T, want *Event", n.Notification)
	}
	if ev.ObjPath != "Device." || ev.Name != "Boot!" || ev.Path() != "Device.Boot!" || !ev.IsBoot() {
		t.Errorf("event = %q %q", ev.ObjPath, ev.Name)
	}
	wantParams := map[string]string{
		"Cause": "LocalFactoryReset", "CommandKey": "", "FirmwareUpdated": "false",
		"ParameterMap": "{}", "Reason": "Unknown",
	}
	if !reflect.DeepEqual(ev.Params, wantParams) {
		t.Errorf("params = %v, want %v", ev.Params, wantParams)
	}
	boot, err := ev.Boot()
	if err != nil {
		t.Fatal(err)
	}
	wantBoot := Boot{Cause: CauseLocalFactoryReset, Reason: "Unknown", ParameterMap: map[string]string{}}
	if !reflect.DeepEqual(boot, wantBoot) {
		t.Errorf("boot = %+v, want %+v", boot, wantBoot)
	}
}

func TestVectorGetRequest(t *testing.T) {
	r := parseVector(t, "controller-get-request-record.bin", vecController, vecAgent, KindMsg)
	m, err := r.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != vecGetID || m.Type() != uspmsg.Header_GET {
		t.Errorf("msg = %q %v", m.ID, m.Type())
	}
	want := &Get{Paths: []string{"Device.DeviceInfo."}, MaxDepth: 0}
	if !reflect.DeepEqual(m.Body, want) {
		t.Errorf("body = %+v, want %+v", m.Body, want)
	}
}

// TestBuiltGetMatchesVector builds the captured request with this package and
// checks that it decodes to the same Record and Msg as the real one.
func TestBuiltGetMatchesVector(t *testing.T) {
	captured := readVector(t, "controller-get-request-record.bin")
	rec, err := NewMsgRecord(vecController, vecAgent, vecGetID, NewGet(0, "Device.DeviceInfo."))
	if err != nil {
		t.Fatal(err)
	}
	built, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var a, b usprecord.Record
	if err := proto.Unmarshal(captured, &a); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(built, &b); err != nil {
		t.Fatal(err)
	}
	var am, bm uspmsg.Msg
	if err := proto.Unmarshal(a.GetNoSessionContext().GetPayload(), &am); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b.GetNoSessionContext().GetPayload(), &bm); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&am, &bm) {
		t.Errorf("built msg %v\ndiffers from captured %v", &bm, &am)
	}
	a.RecordType, b.RecordType = nil, nil
	if !proto.Equal(&a, &b) {
		t.Errorf("built record header %v\ndiffers from captured %v", &b, &a)
	}
	// Both encoders write fields in number order, so the bytes agree too.
	if !bytes.Equal(built, captured) {
		t.Errorf("built bytes %x\ndiffer from captured %x", built, captured)
	}
}

func TestVectorGetResponse(t *testing.T) {
	r := parseVector(t, "agent-get-response-record.bin", vecAgent, vecController, KindMsg)
	m, err := r.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != vecGetID || m.Type() != uspmsg.Header_GET_RESP || m.IsRequest() || m.Err() != nil {
		t.Errorf("msg = %q %v err=%v", m.ID, m.Type(), m.Err())
	}
	resp, ok := m.Body.(*GetResp)
	if !ok {
		t.Fatalf("body is %T, want *GetResp", m.Body)
	}
	want := &GetResp{Results: []GetResult{{
		RequestedPath: "Device.DeviceInfo.",
		Resolved: []ResolvedPath{{
			Path: "Device.DeviceInfo.",
			Params: map[string]string{
				"HardwareVersion": "", "Manufacturer": "Manufacturer", "ManufacturerOUI": "012345",
				"ModelName": "USP Agent", "ProductClass": "USP Agent", "SerialNumber": "OBUSPA0001",
				"SoftwareVersion": "", "UpTime": "505",
			},
		}},
	}}}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("get_resp = %+v\nwant %+v", resp, want)
	}
	if resp.Err() != nil {
		t.Errorf("Err() = %v", resp.Err())
	}
	if v := resp.Values()["Device.DeviceInfo.SerialNumber"]; v != "OBUSPA0001" {
		t.Errorf("Values()[SerialNumber] = %q", v)
	}
}
