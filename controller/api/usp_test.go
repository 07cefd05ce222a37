package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/controller/auth"
	"cuttle/devices/inventory"
)

// uspErr is the JSON of a USP failure in results.
type uspErr struct {
	Param   string `json:"param"`
	Path    string `json:"path"`
	Code    uint32 `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

type getResp struct {
	Results []struct {
		RequestedPath string  `json:"requested_path"`
		Error         *uspErr `json:"error"`
		Resolved      []struct {
			Path   string            `json:"path"`
			Params map[string]string `json:"params"`
		} `json:"resolved"`
	} `json:"results"`
	Values map[string]string `json:"values"`
}

func TestUSPOperations(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2}})
	viewer, operator := e.tokens[auth.RoleViewer], e.tokens[auth.RoleOperator]

	t.Run("get", func(t *testing.T) {
		var got getResp
		e.call(request{method: "POST", path: devicePath(dev1, "get"), token: viewer,
			body: map[string]any{"paths": []string{"Device.DeviceInfo.", "Device.DeviceInfo.SerialNumber", "Device.Nope."}, "max_depth": 1}},
			http.StatusOK, &got)
		if len(got.Results) != 3 {
			t.Fatalf("%d results, want 3", len(got.Results))
		}
		info := got.Results[0]
		if info.RequestedPath != "Device.DeviceInfo." || info.Error != nil || len(info.Resolved) != 1 ||
			info.Resolved[0].Path != "Device.DeviceInfo." || info.Resolved[0].Params["ModelName"] != "CL-HG4000" {
			t.Errorf("Device.DeviceInfo.: %+v", info)
		}
		if sn := got.Results[1]; sn.Error != nil || sn.Resolved[0].Params["SerialNumber"] != "HGW000001" {
			t.Errorf("SerialNumber: %+v", sn)
		}
		// The CLI contract: every parameter under its full path.
		if got.Values["Device.DeviceInfo.SerialNumber"] != "HGW000001" || got.Values["Device.DeviceInfo.Manufacturer"] != "Cuttle Labs" {
			t.Errorf("values %v", got.Values)
		}
		if bad := got.Results[2]; bad.Error == nil || bad.Error.Code != 7026 || bad.Error.Name != "InvalidPath" || bad.Error.Message == "" ||
			bad.Resolved == nil || len(bad.Resolved) != 0 {
			t.Errorf("Device.Nope.: %+v, want error 7026 and resolved []", bad)
		}
	})

	t.Run("invalid paths", func(t *testing.T) {
		for _, tc := range []struct {
			op     string
			body   any
			fields string
		}{
			{"get", map[string]any{"paths": []string{"Device..X"}}, "paths[0]:7026"},
			{"get", map[string]any{"paths": []string{"Device.DeviceInfo.", "Device.Reboot()"}}, "paths[1]:7026"},
			{"get", map[string]any{"paths": []string{}}, "paths:0"},
			{"get", map[string]any{}, "paths:0"},
			{"instances", map[string]any{"paths": []string{"Device.WiFi.SSID.1.SSID"}}, "paths[0]:7026"},
			{"supported-dm", map[string]any{"paths": []string{"Device.WiFi.SSID.{x}."}}, "paths[0]:7026"},
			{"set", map[string]any{"objects": []any{map[string]any{"path": "Device.WiFi.SSID.1.SSID", "params": map[string]string{"a": "b"}}}}, "objects[0].path:7026"},
			{"set", map[string]any{"objects": []any{map[string]any{"path": "Device.WiFi.SSID.1."}}}, "objects[0].params:0"},
			{"set", map[string]any{"objects": []any{map[string]any{"path": "Device.WiFi.SSID.1.", "params": map[string]string{"SSID": "x"}, "required": []string{"Enable"}}}}, "objects[0].required[0]:0"},
			{"set", map[string]any{"objects": []any{map[string]any{"path": "Device.WiFi.SSID.1.", "params": map[string]string{"Bad Name": "x"}}}}, "objects[0].params.Bad Name:0"},
			{"add", map[string]any{"objects": []any{map[string]any{"path": "Device.LocalAgent.Subscription.[ID==]."}}}, "objects[0].path:7026"},
			{"delete", map[string]any{"paths": []string{"Device.LocalAgent.Subscription.1.Enable"}}, "paths[0]:7026"},
			{"operate", map[string]any{"command": "Device.Reboot"}, "command:7026"},
			{"operate", map[string]any{}, "command:0"},
			{"operate", map[string]any{"command": "Device.Reboot()", "timeout": "5s"}, "timeout:0"},
		} {
			r := e.do(request{method: "POST", path: devicePath(dev1, tc.op), token: operator, body: tc.body})
			p := wantProblem(t, r, http.StatusBadRequest, "invalid-request")
			if got := fieldsOf(p); got != tc.fields {
				t.Errorf("%s %v: field errors %q, want %q (%s)", tc.op, tc.body, got, tc.fields, r.body)
			}
			if strings.Contains(tc.fields, ":7026") && (p.USPCode != 7026 || p.USPName != "InvalidPath") {
				t.Errorf("%s %v: usp_code %d %q, want 7026 InvalidPath", tc.op, tc.body, p.USPCode, p.USPName)
			}
		}
	})

	t.Run("set", func(t *testing.T) {
		var got struct {
			Results []struct {
				RequestedPath string  `json:"requested_path"`
				Error         *uspErr `json:"error"`
				Updated       []struct {
					Path        string            `json:"path"`
					Params      map[string]string `json:"params"`
					ParamErrors []uspErr          `json:"param_errors"`
				} `json:"updated"`
			} `json:"results"`
			Values map[string]string `json:"values"`
		}
		e.call(request{method: "POST", path: devicePath(dev1, "set"), token: operator, body: map[string]any{
			"objects": []any{map[string]any{"path": "Device.WiFi.SSID.1.", "params": map[string]string{"SSID": "cuttle-test", "NoSuchParam": "1"}, "required": []string{"SSID"}}},
		}}, http.StatusOK, &got)
		if len(got.Results) != 1 || got.Results[0].Error != nil || len(got.Results[0].Updated) != 1 {
			t.Fatalf("set: %+v", got)
		}
		u := got.Results[0].Updated[0]
		if u.Path != "Device.WiFi.SSID.1." || u.Params["SSID"] != "cuttle-test" || len(u.ParamErrors) != 1 ||
			u.ParamErrors[0].Param != "NoSuchParam" || u.ParamErrors[0].Code != 7010 {
			t.Errorf("updated %+v, want SSID set and a 7010 for NoSuchParam", u)
		}
		if got.Values["Device.WiFi.SSID.1.SSID"] != "cuttle-test" {
			t.Errorf("values %v", got.Values)
		}
		var check getResp
		e.call(request{method: "POST", path: devicePath(dev1, "get"), token: viewer,
			body: map[string]any{"paths": []string{"Device.WiFi.SSID.1.SSID"}}}, http.StatusOK, &check)
		if check.Values["Device.WiFi.SSID.1.SSID"] != "cuttle-test" {
			t.Errorf("after set, get says %v", check.Values)
		}
	})

	t.Run("set refused", func(t *testing.T) {
		// allow_partial=false: the device answers with a USP Error.
		r := e.do(request{method: "POST", path: devicePath(dev1, "set"), token: operator, body: map[string]any{
			"objects": []any{map[string]any{"path": "Device.DeviceInfo.", "params": map[string]string{"SerialNumber": "x"}, "required": []string{"SerialNumber"}}},
		}})
		p := wantProblem(t, r, http.StatusUnprocessableEntity, "usp-error")
		if p.USPCode == 0 || p.USPName == "" || len(p.ParamErrors) != 1 ||
			p.ParamErrors[0].Param != "Device.DeviceInfo.SerialNumber" || p.ParamErrors[0].Code != 7013 || p.ParamErrors[0].Name != "ParamReadOnly" {
			t.Errorf("problem %s, want a usp_code and a 7013 param error for SerialNumber", r.body)
		}
		// allow_partial=true: the failure is the object's.
		var got struct {
			Results []struct {
				Error  *uspErr `json:"error"`
				Failed []struct {
					Path        string   `json:"path"`
					ParamErrors []uspErr `json:"param_errors"`
				} `json:"failed"`
			} `json:"results"`
		}
		e.call(request{method: "POST", path: devicePath(dev1, "set"), token: operator, body: map[string]any{
			"allow_partial": true,
			"objects":       []any{map[string]any{"path": "Device.DeviceInfo.", "params": map[string]string{"SerialNumber": "x"}, "required": []string{"SerialNumber"}}},
		}}, http.StatusOK, &got)
		res := got.Results[0]
		if res.Error == nil || res.Error.Code != 7021 || len(res.Failed) != 1 || len(res.Failed[0].ParamErrors) != 1 || res.Failed[0].ParamErrors[0].Code != 7013 {
			t.Errorf("allow_partial set: %+v, want 7021 with a 7013 parameter failure", res)
		}
	})

	var created string
	t.Run("add", func(t *testing.T) {
		var got struct {
			Results []struct {
				RequestedPath    string            `json:"requested_path"`
				Error            *uspErr           `json:"error"`
				InstantiatedPath string            `json:"instantiated_path"`
				UniqueKeys       map[string]string `json:"unique_keys"`
				ParamErrors      []uspErr          `json:"param_errors"`
			} `json:"results"`
		}
		e.call(request{method: "POST", path: devicePath(dev1, "add"), token: operator, body: map[string]any{
			"allow_partial": true,
			"objects": []any{
				map[string]any{"path": "Device.LocalAgent.Subscription.", "params": map[string]string{
					"ID": "api-test", "NotifType": "ValueChange", "ReferenceList": "Device.WiFi.SSID.1.SSID", "Enable": "true"}},
				map[string]any{"path": "Device.DeviceInfo."},
			},
		}}, http.StatusOK, &got)
		if len(got.Results) != 2 {
			t.Fatalf("results %+v", got.Results)
		}
		ok := got.Results[0]
		if ok.Error != nil || !strings.HasPrefix(ok.InstantiatedPath, "Device.LocalAgent.Subscription.") || ok.UniqueKeys["ID"] != "api-test" || ok.ParamErrors == nil {
			t.Errorf("created %+v", ok)
		}
		created = ok.InstantiatedPath
		if bad := got.Results[1]; bad.Error == nil || bad.Error.Code != 7018 || bad.InstantiatedPath != "" {
			t.Errorf("Add to Device.DeviceInfo.: %+v, want 7018", bad)
		}
	})

	t.Run("instances", func(t *testing.T) {
		var got struct {
			Results []struct {
				Error     *uspErr `json:"error"`
				Instances []struct {
					Path       string            `json:"path"`
					UniqueKeys map[string]string `json:"unique_keys"`
				} `json:"instances"`
			} `json:"results"`
		}
		e.call(request{method: "POST", path: devicePath(dev1, "instances"), token: viewer, body: map[string]any{
			"paths": []string{"Device.LocalAgent.Subscription.", "Device.DeviceInfo."}, "first_level_only": true,
		}}, http.StatusOK, &got)
		var ids []string
		for _, in := range got.Results[0].Instances {
			ids = append(ids, in.UniqueKeys["ID"])
		}
		if got.Results[0].Error != nil || !slices.Contains(ids, "api-test") || !slices.Contains(ids, "cuttle-boot") {
			t.Errorf("subscriptions %+v, want api-test and the controller's own", got.Results[0])
		}
		if got.Results[1].Error == nil || got.Results[1].Error.Code != 7018 {
			t.Errorf("Device.DeviceInfo.: %+v, want 7018", got.Results[1])
		}
	})

	t.Run("delete", func(t *testing.T) {
		if created == "" {
			t.Skip("add failed")
		}
		var got struct {
			Results []struct {
				RequestedPath string   `json:"requested_path"`
				Error         *uspErr  `json:"error"`
				Affected      []string `json:"affected"`
				Unaffected    []uspErr `json:"unaffected"`
			} `json:"results"`
		}
		e.call(request{method: "POST", path: devicePath(dev1, "delete"), token: operator, body: map[string]any{
			"allow_partial": true, "paths": []string{created, "Device.DeviceInfo.FirmwareImage.99.", "Device.DeviceInfo."},
		}}, http.StatusOK, &got)
		if r := got.Results[0]; r.Error != nil || !slices.Equal(r.Affected, []string{created}) || r.Unaffected == nil {
			t.Errorf("deleting %s: %+v", created, r)
		}
		if r := got.Results[1]; r.Error != nil || len(r.Affected) != 0 {
			t.Errorf("deleting a missing instance (R-DEL.2a): %+v", r)
		}
		if r := got.Results[2]; r.Error == nil || r.Error.Code != 7018 {
			t.Errorf("deleting Device.DeviceInfo.: %+v, want 7018", r)
		}
		r := e.do(request{method: "POST", path: devicePath(dev1, "delete"), token: operator, body: map[string]any{"paths": []string{"Device.DeviceInfo."}}})
		if p := wantProblem(t, r, http.StatusUnprocessableEntity, "usp-error"); p.USPCode != 7018 || p.USPName != "ObjectNotATable" {
			t.Errorf("delete without allow_partial: %s", r.body)
		}
	})

	t.Run("supported-dm", func(t *testing.T) {
		var got struct {
			Results []struct {
				Error        *uspErr `json:"error"`
				DataModelURI string  `json:"data_model_uri"`
				Objects      []struct {
					Path          string `json:"path"`
					Access        string `json:"access"`
					MultiInstance bool   `json:"multi_instance"`
					Params        []struct {
						Name, Access, Type string
					} `json:"params"`
					Commands []struct {
						Name   string   `json:"name"`
						Type   string   `json:"type"`
						Inputs []string `json:"inputs"`
					} `json:"commands"`
				} `json:"objects"`
			} `json:"results"`
		}
		e.call(request{method: "POST", path: devicePath(dev1, "supported-dm"), token: viewer, body: map[string]any{
			"paths": []string{"Device.DeviceInfo.FirmwareImage.{i}."}, "return_params": true, "return_commands": true, "first_level_only": true,
		}}, http.StatusOK, &got)
		if len(got.Results) != 1 || got.Results[0].Error != nil || len(got.Results[0].Objects) == 0 {
			t.Fatalf("supported-dm: %+v", got)
		}
		o := got.Results[0].Objects[0]
		if o.Path != "Device.DeviceInfo.FirmwareImage.{i}." || !o.MultiInstance {
			t.Errorf("object %+v", o)
		}
		var download bool
		for _, c := range o.Commands {
			if c.Name == "Download()" {
				download = c.Type == "async" && slices.Contains(c.Inputs, "URL")
			}
		}
		if !download {
			t.Errorf("commands %+v, want an async Download() taking URL", o.Commands)
		}
		var version bool
		for _, p := range o.Params {
			version = version || (p.Name == "Version" && p.Access == "read_only" && p.Type == "string")
		}
		if !version {
			t.Errorf("params %+v, want a read-only string Version", o.Params)
		}
	})

	t.Run("supported-protocol", func(t *testing.T) {
		var got struct {
			Versions []string `json:"versions"`
		}
		e.call(request{method: "POST", path: devicePath(dev2, "supported-protocol"), token: viewer, body: map[string]any{}}, http.StatusOK, &got)
		if !slices.Contains(got.Versions, "1.3") {
			t.Errorf("versions %v", got.Versions)
		}
		// No body at all is fine too.
		e.call(request{method: "POST", path: devicePath(dev2, "supported-protocol"), token: viewer}, http.StatusOK, &got)
	})

	t.Run("unknown and offline devices", func(t *testing.T) {
		r := e.do(request{method: "POST", path: devicePath("os::012345-9999", "get"), token: viewer, body: map[string]any{"paths": []string{"Device."}}})
		wantProblem(t, r, http.StatusNotFound, "not-found")
		_ = e.devices[dev2].cli.Disconnect(&paho.Disconnect{})
		e.waitDevice(dev2, func(d inventory.Device) bool { return d.Status == inventory.StatusOffline }, "offline")
		r = e.do(request{method: "POST", path: devicePath(dev2, "get"), token: viewer, body: map[string]any{"paths": []string{"Device."}}})
		if p := wantProblem(t, r, http.StatusServiceUnavailable, "device-unreachable"); !strings.Contains(p.Detail, "offline") {
			t.Errorf("detail %q", p.Detail)
		}
	})
}
