package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"cuttle/controller/auth"
	"cuttle/usp"
)

// trafficMessage is the JSON of a recorded USP message.
type trafficMessage struct {
	ID         uint64    `json:"id"`
	Time       time.Time `json:"time"`
	Direction  string    `json:"direction"`
	EndpointID string    `json:"endpoint_id"`
	Topic      string    `json:"topic"`
	QoS        int       `json:"qos"`
	Properties struct {
		ResponseTopic   string `json:"response_topic"`
		CorrelationData string `json:"correlation_data"`
		ContentType     string `json:"content_type"`
		UserProperties  []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"user_properties"`
	} `json:"properties"`
	Size       int             `json:"size"`
	Record     map[string]any  `json:"record"`
	Msg        json.RawMessage `json:"msg"`
	MsgType    string          `json:"msg_type"`
	MsgID      string          `json:"msg_id"`
	RecordType string          `json:"record_type"`
	Error      string          `json:"error"`
}

func (m trafficMessage) userProperty(key string) string {
	for _, p := range m.Properties.UserProperties {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// nextTraffic reads the stream until a usp event that ok accepts, and
// fails on messages of other devices than eid.
func nextTraffic(t *testing.T, s *sseStream, eid string, ok func(trafficMessage) bool) trafficMessage {
	t.Helper()
	for range 200 {
		m := s.next(t, 10*time.Second)
		if m.event != "usp" {
			t.Fatalf("event %q (%s), want usp", m.event, m.data)
		}
		var tm trafficMessage
		if err := json.Unmarshal([]byte(m.data), &tm); err != nil {
			t.Fatalf("data %s: %v", m.data, err)
		}
		if m.id != fmt.Sprint(tm.ID) {
			t.Errorf("SSE id %s for message %d", m.id, tm.ID)
		}
		if tm.EndpointID != eid {
			t.Fatalf("the stream filtered on %s sent a message of %q: %s", eid, tm.EndpointID, m.data)
		}
		if ok(tm) {
			return tm
		}
	}
	t.Fatal("no matching message in 200")
	return trafficMessage{}
}

func TestTraffic(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2}, heartbeat: 500 * time.Millisecond})
	viewer := e.tokens[auth.RoleViewer]
	getBody := map[string]any{"paths": []string{"Device.DeviceInfo."}}

	s := e.openStream(t, "/api/v1/traffic/stream?endpoint_id="+dev1, viewer, nil)
	if s.status != http.StatusOK || s.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, Content-Type %q", s.status, s.header.Get("Content-Type"))
	}
	e.call(request{method: "POST", path: devicePath(dev2, "get"), token: viewer, body: getBody}, http.StatusOK, nil)
	e.call(request{method: "POST", path: devicePath(dev1, "get"), token: viewer, body: getBody}, http.StatusOK, nil)

	var out, in trafficMessage
	t.Run("a Get goes out and its GetResp comes in, decoded", func(t *testing.T) {
		out = nextTraffic(t, s, dev1, func(m trafficMessage) bool { return m.MsgType == "GET" })
		if out.Direction != "out" || out.Topic != "usp/v1/agent/"+dev1 || out.QoS != 1 || out.RecordType != "no_session_context" ||
			out.Error != "" || out.Size == 0 || time.Since(out.Time) > time.Minute {
			t.Errorf("request %+v", out)
		}
		if out.Properties.ResponseTopic != ctlTopic || out.Properties.CorrelationData != out.MsgID || out.MsgID == "" ||
			out.Properties.ContentType != "usp.msg" || out.userProperty("usp-msg-type") != "GET" || out.userProperty("usp-endpoint-id") != ctlEID {
			t.Errorf("request properties %+v", out.Properties)
		}
		if out.Record["to_id"] != dev1 || out.Record["from_id"] != ctlEID || out.Record["version"] != usp.DefaultVersion ||
			out.Record["payload_security"] != "PLAINTEXT" {
			t.Errorf("request record %v", out.Record)
		}
		if !strings.Contains(string(out.Msg), `"param_paths":["Device.DeviceInfo."]`) {
			t.Errorf("request msg %s", out.Msg)
		}

		in = nextTraffic(t, s, dev1, func(m trafficMessage) bool { return m.MsgType == "GET_RESP" })
		if in.Direction != "in" || in.ID <= out.ID || in.MsgID != out.MsgID || in.Topic != ctlTopic || in.Error != "" ||
			in.Record["from_id"] != dev1 || in.Properties.ContentType != "usp.msg" || in.Properties.CorrelationData != out.MsgID ||
			in.Properties.ResponseTopic != "usp/v1/agent/"+dev1 {
			t.Errorf("response %+v", in)
		}
		// The response's parameters, decoded.
		var msg struct {
			Body struct {
				Response struct {
					GetResp struct {
						ReqPathResults []struct {
							RequestedPath       string `json:"requested_path"`
							ResolvedPathResults []struct {
								ResolvedPath string            `json:"resolved_path"`
								ResultParams map[string]string `json:"result_params"`
							} `json:"resolved_path_results"`
						} `json:"req_path_results"`
					} `json:"get_resp"`
				} `json:"response"`
			} `json:"body"`
		}
		if err := json.Unmarshal(in.Msg, &msg); err != nil {
			t.Fatal(err)
		}
		res := msg.Body.Response.GetResp.ReqPathResults
		if len(res) != 1 || res[0].RequestedPath != "Device.DeviceInfo." || len(res[0].ResolvedPathResults) == 0 ||
			res[0].ResolvedPathResults[0].ResultParams["SoftwareVersion"] == "" {
			t.Errorf("response msg %s", in.Msg)
		}
	})

	t.Run("query by device", func(t *testing.T) {
		var got struct{ Messages []trafficMessage }
		e.call(request{method: "GET", path: "/api/v1/traffic?endpoint_id=" + dev2, token: viewer}, http.StatusOK, &got)
		var types []string
		for _, m := range got.Messages {
			if m.EndpointID != dev2 {
				t.Errorf("message of %s in dev2's traffic", m.EndpointID)
			}
			types = append(types, m.Direction+":"+m.MsgType)
		}
		if s := strings.Join(types, ","); !strings.Contains(s, "out:GET,in:GET_RESP") {
			t.Errorf("dev2's traffic %s lacks the Get and its response", s)
		}
		for i := 1; i < len(got.Messages); i++ {
			if got.Messages[i].ID <= got.Messages[i-1].ID {
				t.Fatalf("messages not oldest first: %d after %d", got.Messages[i].ID, got.Messages[i-1].ID)
			}
		}

		e.call(request{method: "GET", path: fmt.Sprintf("/api/v1/traffic?endpoint_id=%s&after=%d", dev1, out.ID), token: viewer}, http.StatusOK, &got)
		if len(got.Messages) == 0 || got.Messages[0].ID != in.ID {
			t.Errorf("after the request: %d messages, the first %+v; want the response %d first", len(got.Messages), got.Messages, in.ID)
		}
		e.call(request{method: "GET", path: "/api/v1/traffic?limit=1", token: viewer}, http.StatusOK, &got)
		if len(got.Messages) != 1 {
			t.Errorf("limit=1 gave %d messages", len(got.Messages))
		}
		for _, q := range []string{"limit=5000", "after=x", "device=" + dev1} {
			wantProblem(t, e.do(request{method: "GET", path: "/api/v1/traffic?" + q, token: viewer}), http.StatusBadRequest, "invalid-request")
		}
	})

	t.Run("malformed payloads show an error", func(t *testing.T) {
		d := e.devices[dev1]
		bad := &usp.Record{RecordHeader: usp.RecordHeader{FromID: dev1, ToID: ctlEID, Kind: usp.KindMsg}, Payload: []byte{0xff, 0xff, 0xff}}
		b, err := bad.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.cli.Publish(t.Context(), d.packet(ctlTopic, b, nil)); err != nil {
			t.Fatal(err)
		}
		m := nextTraffic(t, s, dev1, func(m trafficMessage) bool { return m.Direction == "in" && m.Error != "" })
		if m.Msg != nil && string(m.Msg) != "null" || m.MsgType != "" || m.RecordType != "no_session_context" || m.Size != len(b) {
			t.Errorf("malformed message %+v", m)
		}
	})

	t.Run("resume replays from the ring", func(t *testing.T) {
		for _, resume := range []struct {
			path   string
			header map[string]string
		}{
			{"/api/v1/traffic/stream?endpoint_id=" + dev1, map[string]string{"Last-Event-ID": fmt.Sprint(out.ID - 1)}},
			{fmt.Sprintf("/api/v1/traffic/stream?endpoint_id=%s&after=%d", dev1, out.ID-1), nil},
			{"/api/v1/traffic/stream?from=start&endpoint_id=" + dev1, nil},
		} {
			rs := e.openStream(t, resume.path, viewer, resume.header)
			m := nextTraffic(t, rs, dev1, func(m trafficMessage) bool { return m.ID >= out.ID })
			if m.ID != out.ID {
				t.Errorf("%s %v: replayed %d first, want %d", resume.path, resume.header, m.ID, out.ID)
			}
			rs.close()
		}
		for _, q := range []string{"from=end", "from=start&after=3"} {
			wantProblem(t, e.do(request{method: "GET", path: "/api/v1/traffic/stream?" + q, token: viewer}), http.StatusBadRequest, "invalid-request")
		}
	})

	t.Run("idle streams get heartbeats", func(t *testing.T) {
		quiet := e.openStream(t, "/api/v1/traffic/stream?endpoint_id=os::nobody", viewer, nil)
		for deadline := time.After(5 * time.Second); ; {
			select {
			case m := <-quiet.msgs:
				if m.comment == "heartbeat" {
					return
				}
			case <-deadline:
				t.Fatal("no heartbeat within 5 s")
			}
		}
	})
}

func TestTrafficOff(t *testing.T) {
	e := newEnv(t, envOptions{trafficRing: -1})
	for _, path := range []string{"/api/v1/traffic", "/api/v1/traffic/stream"} {
		p := wantProblem(t, e.do(request{method: "GET", path: path, token: e.tokens[auth.RoleViewer]}), http.StatusNotFound, "not-found")
		if !strings.Contains(p.Detail, "traffic inspector is off") {
			t.Errorf("%s: %s", path, p.Detail)
		}
	}
}
