package uspjson

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"cuttle/controller/events"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// build decodes body as req's JSON and builds it, returning the request
// and the fields at fault.
func build(t *testing.T, req Request, body string) (usp.Body, []FieldError) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), req); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	var c Checker
	return req.Build(&c), c.Errs
}

func fieldNames(errs []FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	slices.Sort(out)
	return out
}

func TestBuild(t *testing.T) {
	manyParams := map[string]string{}
	for i := range MaxPaths + 1 {
		manyParams[fmt.Sprintf("P%d", i)] = ""
	}
	many, _ := json.Marshal(map[string]any{"objects": []any{map[string]any{"path": "Device.X.", "params": manyParams}}})
	for _, tc := range []struct {
		name   string
		req    Request
		body   string
		fields []string // the fields at fault; none means valid
		want   usp.Body
	}{
		{"get", &GetRequest{}, `{"paths":["Device.DeviceInfo.","Device.WiFi.SSID.*.SSID"],"max_depth":2}`,
			nil, usp.NewGet(2, "Device.DeviceInfo.", "Device.WiFi.SSID.*.SSID")},
		{"get without paths", &GetRequest{}, `{}`, []string{"paths"}, nil},
		{"get of a command and nothing", &GetRequest{}, `{"paths":["Device.Reboot()",""]}`, []string{"paths[0]", "paths[1]"}, nil},
		{"set", &SetRequest{}, `{"allow_partial":true,"objects":[{"path":"Device.DeviceInfo.","params":{"B":"2","A":"1"},"required":["A"]}]}`,
			nil, usp.NewSet(true, usp.SetObject{Path: "Device.DeviceInfo.", Params: []usp.Param{{Name: "A", Value: "1", Required: true}, {Name: "B", Value: "2"}}})},
		{"set without params", &SetRequest{}, `{"objects":[{"path":"Device.DeviceInfo."}]}`, []string{"objects[0].params"}, nil},
		{"set of a bad path and name", &SetRequest{}, `{"objects":[{"path":"Device..X.","params":{"a b":"1"},"required":["Z"]}]}`,
			[]string{"objects[0].params.a b", "objects[0].path", "objects[0].required[0]"}, nil},
		{"add", &AddRequest{}, `{"objects":[{"path":"Device.LocalAgent.Subscription."}]}`,
			nil, usp.NewAdd(false, usp.AddObject{Path: "Device.LocalAgent.Subscription.", Params: []usp.Param{}})},
		{"add of too many params", &AddRequest{}, string(many), []string{"objects[0].params"}, nil},
		{"add without objects", &AddRequest{}, `{"objects":[]}`, []string{"objects"}, nil},
		{"delete", &DeleteRequest{}, `{"allow_partial":true,"paths":["Device.LocalAgent.Subscription.3."]}`,
			nil, usp.NewDelete(true, "Device.LocalAgent.Subscription.3.")},
		{"delete of a parameter", &DeleteRequest{}, `{"paths":["Device.DeviceInfo.SerialNumber"]}`, []string{"paths[0]"}, nil},
		{"instances", &InstancesRequest{}, `{"paths":["Device.WiFi.SSID."],"first_level_only":true}`,
			nil, usp.NewGetInstances(true, "Device.WiFi.SSID.")},
		{"supported DM", &SupportedDMRequest{}, `{"paths":["Device.WiFi.SSID.{i}."],"return_params":true}`,
			nil, &usp.GetSupportedDM{Paths: []string{"Device.WiFi.SSID.{i}."}, ReturnParams: true}},
		{"supported DM of a parameter", &SupportedDMRequest{}, `{"paths":["Device.WiFi.SSID.{i}.SSID"]}`, []string{"paths[0]"}, nil},
		{"supported protocol", &SupportedProtocolRequest{}, `{}`, nil, usp.NewGetSupportedProtocol(usp.SupportedVersions...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, errs := build(t, tc.req, tc.body)
			if got := fieldNames(errs); !slices.Equal(got, tc.fields) {
				t.Fatalf("fields at fault %q, want %q (%+v)", got, tc.fields, errs)
			}
			if tc.fields == nil && !reflect.DeepEqual(body, tc.want) {
				t.Errorf("request %#v, want %#v", body, tc.want)
			}
		})
	}
}

// TestPathErrors: a path at fault carries the USP code a device would
// have answered with, and FirstUSPError reports the first.
func TestPathErrors(t *testing.T) {
	var c Checker
	c.Count("paths", 2)
	c.Path("paths[0]", "Device.Reboot()", 0)
	c.Path("paths[1]", "Device..X", 0)
	if len(c.Errs) != 2 {
		t.Fatalf("errors %+v", c.Errs)
	}
	kind := c.Errs[0]
	if kind.USPCode != uint32(usperr.InvalidPath) || !strings.Contains(kind.Message, "is a command path") {
		t.Errorf("wrong kind: %+v", kind)
	}
	if c.Errs[1].USPCode == 0 || c.Errs[1].Message == "" {
		t.Errorf("unparsable path: %+v", c.Errs[1])
	}
	first := FirstUSPError(c.Errs)
	if first == nil || uint32(first.Code) != kind.USPCode || first.Msg != kind.Message {
		t.Errorf("FirstUSPError = %+v, want the first path's", first)
	}
	if e := FirstUSPError([]FieldError{{Field: "timeout", Message: "too long"}}); e != nil {
		t.Errorf("FirstUSPError without a path = %+v", e)
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"90s"`: 90 * time.Second, `2.5`: 2500 * time.Millisecond, `""`: 0, `"-1m"`: -time.Minute} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v, %v", in, time.Duration(d), err)
		}
	}
	for _, in := range []string{`"soon"`, `true`, `1e300`, `[]`} {
		var d Duration
		err := json.Unmarshal([]byte(in), &d)
		if typ, ok := err.(*json.UnmarshalTypeError); !ok || typ.Type != reflect.TypeFor[Duration]() {
			t.Errorf("%s: %v, want an UnmarshalTypeError of Duration", in, err)
		}
	}
	if b, _ := json.Marshal(Duration(time.Minute)); string(b) != `"1m0s"` {
		t.Errorf("marshals as %s", b)
	}
}

func TestOperate(t *testing.T) {
	fail := &usperr.Error{Code: usperr.CommandFailure, Msg: "no disk"}
	out := Operate("k", &usp.OperateResp{Results: []usp.OperateResult{
		{Command: "Device.A()", Output: nil},
		{Command: "Device.B()", RequestPath: "Device.LocalAgent.Request.1."},
		{Command: "Device.C()", Err: fail},
	}})
	got, _ := json.Marshal(out)
	want := `{"command_key":"k","results":[` +
		`{"command":"Device.A()","status":"completed","output":{},"error":null},` +
		`{"command":"Device.B()","status":"started","request_path":"Device.LocalAgent.Request.1.","output":null,"error":null},` +
		`{"command":"Device.C()","status":"failed","output":null,"error":{"code":7022,"name":"CommandFailure","message":"no disk"}}]}`
	if string(got) != want {
		t.Fatalf("JSON\n%s\nwant\n%s", got, want)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ok, failed := out.Results[1], out.Results[1]
	ok.Complete(events.Completion{Event: events.Event{ID: 7, Time: at}, Output: map[string]string{"X": "1"}})
	if ok.Status != OpCompleted || ok.Output["X"] != "1" || ok.Error != nil || *ok.Completion != (Completion{EventID: 7, Time: at}) {
		t.Errorf("completed: %+v", ok)
	}
	failed.Complete(events.Completion{Event: events.Event{ID: 8, Time: at}, Err: fail})
	if failed.Status != OpFailed || failed.Error == nil || failed.Error.Code != uint32(usperr.CommandFailure) || failed.Completion.EventID != 8 {
		t.Errorf("failed: %+v", failed)
	}
}

// FuzzBuild: any JSON body of any request either names fields at fault or
// builds a request that encodes; nothing panics.
func FuzzBuild(f *testing.F) {
	f.Add(0, `{"paths":["Device."]}`)
	f.Add(1, `{"objects":[{"path":"Device.X.","params":{"A":"1"},"required":["A","B"]}]}`)
	f.Add(2, `{"objects":[{"path":"Device.X.","params":{"a b":"1"}}]}`)
	f.Add(3, `{"paths":["Device.X.[A==\"b\"]."]}`)
	f.Add(5, `{"paths":["Device.X.{i}."],"return_commands":true}`)
	f.Fuzz(func(t *testing.T, op int, in string) {
		reqs := []Request{&GetRequest{}, &SetRequest{}, &AddRequest{}, &DeleteRequest{}, &InstancesRequest{}, &SupportedDMRequest{}, &SupportedProtocolRequest{}}
		req := reqs[uint(op)%uint(len(reqs))]
		if err := json.Unmarshal([]byte(in), req); err != nil {
			return
		}
		var c Checker
		body := req.Build(&c)
		if len(c.Errs) > 0 {
			for _, e := range c.Errs {
				if e.Field == "" || e.Message == "" {
					t.Fatalf("field error without a field or message: %+v", e)
				}
			}
			return
		}
		if _, err := usp.MarshalMsg("fuzz", body); err != nil {
			t.Fatalf("a valid request does not encode: %v", err)
		}
	})
}

func TestFieldOf(t *testing.T) {
	type object struct {
		Paths   []string `json:"paths"`
		Timeout Duration `json:"timeout"`
	}
	for in, want := range map[string]FieldError{
		`{"paths":"x"}`:    {Field: "paths", Message: "must be an array, not string"},
		`{"timeout":true}`: {Field: "timeout", Message: `must be a duration such as "90s" or a number of seconds, not true`},
		`{"a b":1}`:        {Field: "a b", Message: "unknown field"},
		`"x"`:              {Message: "must be an object, not string"},
		`{"paths":[1]}`:    {Field: "paths", Message: "must be a string, not number"},
	} {
		dec := json.NewDecoder(strings.NewReader(in))
		dec.DisallowUnknownFields()
		var o object
		got, ok := FieldOf(dec.Decode(&o))
		if !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, ok, want)
		}
	}
	if f, ok := FieldOf(json.Unmarshal([]byte(`{`), new(object))); ok {
		t.Errorf("a syntax error has a field: %+v", f)
	}
}
