package usp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProtocDecodesVectors decodes the real agent's Records, and the Msgs
// inside them, with protoc and our .proto files. protoc knows nothing of our
// Go code, so this shows the schemas' field numbers are the spec's. CI sets
// CUTTLE_REQUIRE_PROTOC=1 so that a missing protoc fails instead of skipping.
func TestProtocDecodesVectors(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("CUTTLE_REQUIRE_PROTOC") != "" {
			t.Fatal("protoc not found and CUTTLE_REQUIRE_PROTOC is set")
		}
		t.Skip("protoc not installed")
	}
	protoDir := filepath.Join("..", "proto")
	decode := func(t *testing.T, typ, file string, in []byte) string {
		t.Helper()
		cmd := exec.Command(protoc, "-I", protoDir, "--decode", typ, file)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("protoc --decode %s: %v\n%s", typ, err, out)
		}
		return string(out)
	}
	cases := []struct {
		file       string
		recordWant []string
		msgWant    []string
	}{
		{"agent-mqtt-connect-record.bin", []string{`version: "1.3"`, `to_id: "self::usp-controller"`, `from_id: "os::012345-OBUSPA0001"`,
			"mqtt_connect {", "version: V5", `subscribed_topic: "usp/agent/os::012345-OBUSPA0001"`}, nil},
		{"agent-boot-notify-record.bin", []string{`from_id: "os::012345-OBUSPA0001"`, "no_session_context {"},
			[]string{`msg_id: "Event-2026-11-21T21:08:39Z-1"`, "msg_type: NOTIFY", `subscription_id: "boot-1"`,
				"event {", `obj_path: "Device."`, `event_name: "Boot!"`, `value: "LocalFactoryReset"`, `key: "ParameterMap"`}},
		{"controller-get-request-record.bin", []string{`to_id: "os::012345-OBUSPA0001"`, `from_id: "self::usp-controller"`},
			[]string{`msg_id: "get-1795295324437788265"`, "msg_type: GET", "get {", `param_paths: "Device.DeviceInfo."`}},
		{"agent-get-response-record.bin", []string{`from_id: "os::012345-OBUSPA0001"`},
			[]string{"msg_type: GET_RESP", "get_resp {", `requested_path: "Device.DeviceInfo."`,
				`resolved_path: "Device.DeviceInfo."`, `key: "SerialNumber"`, `value: "OBUSPA0001"`}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := readVector(t, c.file)
			out := decode(t, "usp_record.Record", "usp-record-1-4.proto", raw)
			for _, w := range c.recordWant {
				if !strings.Contains(out, w) {
					t.Errorf("protoc record output lacks %q:\n%s", w, out)
				}
			}
			if c.msgWant == nil {
				return
			}
			r, err := ParseRecord(raw)
			if err != nil {
				t.Fatal(err)
			}
			out = decode(t, "usp.Msg", "usp-msg-1-4.proto", r.Payload)
			for _, w := range c.msgWant {
				if !strings.Contains(out, w) {
					t.Errorf("protoc msg output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
