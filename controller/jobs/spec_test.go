package jobs

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"cuttle/usp"
)

func TestSpecValidation(t *testing.T) {
	devs := []string{"os::1"}
	for _, tc := range []struct {
		name   string
		spec   Spec
		fields []string // the fields at fault; none means valid
		body   usp.Body
	}{
		{"get", Spec{Operation: OpGet, Request: raw(`{"paths":["Device.DeviceInfo.","Device.WiFi.SSID.*.SSID"],"max_depth":2}`), Devices: devs},
			nil, usp.NewGet(2, "Device.DeviceInfo.", "Device.WiFi.SSID.*.SSID")},
		{"get without paths", Spec{Operation: OpGet, Devices: devs}, []string{"request.paths"}, nil},
		{"get of a command", Spec{Operation: OpGet, Request: raw(`{"paths":["Device.Reboot()"]}`), Devices: devs}, []string{"request.paths[0]"}, nil},
		{"set", Spec{Operation: OpSet, Request: raw(`{"allow_partial":true,"objects":[{"path":"Device.DeviceInfo.","params":{"B":"2","A":"1"},"required":["A"]}]}`), Devices: devs},
			nil, usp.NewSet(true, usp.SetObject{Path: "Device.DeviceInfo.", Params: []usp.Param{{Name: "A", Value: "1", Required: true}, {Name: "B", Value: "2"}}})},
		{"set of a bad path and name", Spec{Operation: OpSet, Request: raw(`{"objects":[{"path":"Device..X.","params":{"a b":"1"},"required":["Z"]}]}`), Devices: devs},
			[]string{"request.objects[0].params.a b", "request.objects[0].path", "request.objects[0].required[0]"}, nil},
		{"add", Spec{Operation: OpAdd, Request: raw(`{"objects":[{"path":"Device.LocalAgent.Subscription."}]}`), Devices: devs},
			nil, usp.NewAdd(false, usp.AddObject{Path: "Device.LocalAgent.Subscription.", Params: []usp.Param{}})},
		{"delete", Spec{Operation: OpDelete, Request: raw(`{"paths":["Device.LocalAgent.Subscription.3."]}`), Devices: devs},
			nil, usp.NewDelete(false, "Device.LocalAgent.Subscription.3.")},
		{"operate", Spec{Operation: OpOperate, Request: raw(`{"command":"Device.Reboot()","command_key":"k"}`), Devices: devs},
			nil, usp.NewOperate("Device.Reboot()", "k", true, nil)},
		{"operate of a parameter", Spec{Operation: OpOperate, Request: raw(`{"command":"Device.DeviceInfo.SerialNumber"}`), Devices: devs}, []string{"request.command"}, nil},
		{"instances", Spec{Operation: OpInstances, Request: raw(`{"paths":["Device.WiFi.SSID."],"first_level_only":true}`), Devices: devs},
			nil, usp.NewGetInstances(true, "Device.WiFi.SSID.")},
		{"supported protocol", Spec{Operation: OpSupportedProtocol, Request: raw(`{}`), Selector: &Selector{}},
			nil, usp.NewGetSupportedProtocol(usp.SupportedVersions...)},
		{"unknown operation", Spec{Operation: "reboot", Devices: devs}, []string{"operation"}, nil},
		{"no operation", Spec{Devices: devs}, []string{"operation"}, nil},
		{"unknown request field", Spec{Operation: OpGet, Request: raw(`{"path":["Device."]}`), Devices: devs}, []string{"request.path"}, nil},
		{"wrong request type", Spec{Operation: OpGet, Request: raw(`{"paths":"Device."}`), Devices: devs}, []string{"request.paths"}, nil},
		{"no devices", Spec{Operation: OpSupportedProtocol}, []string{"devices"}, nil},
		{"devices and selector", Spec{Operation: OpSupportedProtocol, Devices: devs, Selector: &Selector{}}, []string{"devices"}, nil},
		{"bad endpoint ID", Spec{Operation: OpSupportedProtocol, Devices: []string{"a/b", ""}}, []string{"devices[0]", "devices[1]"}, nil},
		{"bad selector", Spec{Operation: OpSupportedProtocol, Selector: &Selector{Status: "up", Labels: "a=b=c,="}}, []string{"selector.labels", "selector.status"}, nil},
		{"limits", Spec{Operation: OpSupportedProtocol, Devices: devs, Concurrency: 1001, Timeout: Duration(time.Hour), Name: strings.Repeat("x", 201)},
			[]string{"concurrency", "name", "timeout"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := tc.spec.prepare()
			var got []string
			var ve *ValidationError
			if errors.As(err, &ve) {
				for _, f := range ve.Fields {
					got = append(got, f.Field)
				}
			} else if err != nil {
				t.Fatalf("err %v is not a ValidationError", err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.fields) {
				t.Errorf("fields at fault %q, want %q (%v)", got, tc.fields, err)
			}
			if tc.fields == nil {
				if !reflect.DeepEqual(body, tc.body) {
					t.Errorf("body %#v, want %#v", body, tc.body)
				}
				if tc.spec.Concurrency != DefaultConcurrency || tc.spec.Timeout != Duration(DefaultTimeout) {
					t.Errorf("defaults not filled in: %+v", tc.spec)
				}
			}
		})
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{`"90s"`: 90 * time.Second, `2.5`: 2500 * time.Millisecond, `""`: 0} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v, %v", in, time.Duration(d), err)
		}
	}
	for _, in := range []string{`"soon"`, `true`, `1e300`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	if b, _ := json.Marshal(Duration(time.Minute)); string(b) != `"1m0s"` {
		t.Errorf("marshaled %s", b)
	}
}

func TestIDs(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := newID(t0), newID(t0.Add(time.Millisecond))
	if !validID(a) || !validID(b) || a >= b || a == newID(t0) {
		t.Errorf("IDs %s, %s", a, b)
	}
	for _, bad := range []string{"", "*", "0000000000000000.", "0000000000000000W", strings.Repeat("0", 18)} {
		if validID(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}

// TestOpenAPI: the fragment documents every route, its references
// resolve, and it merges into a document that lacks its names.
func TestOpenAPI(t *testing.T) {
	var frag map[string]any
	if err := json.Unmarshal(OpenAPI, &frag); err != nil {
		t.Fatal(err)
	}
	paths := frag["paths"].(map[string]any)
	for _, rt := range Routes() {
		p, _ := paths[rt.Path].(map[string]any)
		if p[strings.ToLower(rt.Method)] == nil {
			t.Errorf("%s %s is not in the fragment", rt.Method, rt.Path)
		}
	}
	for _, ref := range refs(frag) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var node any = frag
		for _, p := range parts {
			node = node.(map[string]any)[p]
		}
		if node == nil {
			t.Errorf("%s does not resolve", ref)
		}
	}
	doc := map[string]any{"paths": map[string]any{"/api/v1/devices": map[string]any{}},
		"components": map[string]any{"schemas": map[string]any{"Device": map[string]any{}}}}
	if err := MergeOpenAPI(doc); err != nil {
		t.Fatal(err)
	}
	if doc["paths"].(map[string]any)["/api/v1/jobs"] == nil || doc["components"].(map[string]any)["schemas"].(map[string]any)["Job"] == nil ||
		doc["paths"].(map[string]any)["/api/v1/devices"] == nil {
		t.Errorf("merged %v", doc)
	}
	if err := MergeOpenAPI(doc); err == nil {
		t.Error("merging twice succeeded")
	}
}

func refs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "$ref" {
				out = append(out, s)
			}
			out = append(out, refs(c)...)
		}
	case []any:
		for _, c := range x {
			out = append(out, refs(c)...)
		}
	}
	return out
}

// FuzzSpec: any JSON body is either refused with field errors or gives a
// request to send; nothing panics.
func FuzzSpec(f *testing.F) {
	f.Add(`{"operation":"get","devices":["a"],"request":{"paths":["Device."]}}`)
	f.Add(`{"operation":"set","selector":{"labels":"a=b"},"request":{"objects":[{"path":"Device.X.","params":{"A":"1"},"required":["A"]}]}}`)
	f.Add(`{"operation":"operate","devices":["a"],"request":{"command":"Device.Reboot()","input_args":{"x":"y"}},"timeout":3}`)
	f.Add(`{"operation":"delete","devices":["a"],"request":{"paths":["Device.X.[A==\"b\"]."]}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var spec Spec
		if err := json.Unmarshal([]byte(in), &spec); err != nil {
			return
		}
		body, err := spec.prepare()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			return
		}
		if body == nil {
			t.Fatal("no error and no body")
		}
		if _, err := usp.MarshalMsg("fuzz", body); err != nil {
			t.Fatalf("a valid spec's request does not encode: %v", err)
		}
	})
}
