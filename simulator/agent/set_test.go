package agent

import (
	"strings"
	"testing"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

func setObj(path string, params ...usp.Param) usp.SetObject {
	return usp.SetObject{Path: path, Params: params}
}

func req(name, value string) usp.Param { return usp.Param{Name: name, Value: value, Required: true} }
func opt(name, value string) usp.Param { return usp.Param{Name: name, Value: value} }

// TestSetParamErrors checks each parameter failure's code, with
// allow_partial=false (an Error with param_errs using full paths) and true
// (an oper_failure with the parameter in updated_inst_failures).
func TestSetParamErrors(t *testing.T) {
	tests := []struct {
		name  string
		obj   string
		param usp.Param
		code  usperr.Code
	}{
		{"read-only", "Device.DeviceInfo.", req("Manufacturer", "Evil"), usperr.ParamReadOnly},
		{"unknown", "Device.DeviceInfo.", req("Colour", "blue"), usperr.UnsupportedParameter},
		{"unknown sub-object", "Device.WiFi.AccessPoint.1.", req("Nothing.ModeEnabled", "None"), usperr.UnsupportedParameter},
		{"not an int", "Device.WiFi.Radio.1.", req("Channel", "abc"), usperr.InvalidType},
		{"out of range", "Device.WiFi.Radio.1.", req("Channel", "500"), usperr.InvalidValue},
		{"negative unsigned", "Device.WiFi.Radio.1.", req("Channel", "-1"), usperr.InvalidValue},
		{"not a boolean", "Device.WiFi.SSID.1.", req("Enable", "yes"), usperr.InvalidType},
		{"not in enumeration", "Device.WiFi.Radio.1.", req("OperatingChannelBandwidth", "33MHz"), usperr.InvalidValue},
		{"list item not in enumeration", "Device.WiFi.Radio.1.", req("OperatingStandards", "n,zz"), usperr.InvalidValue},
		{"too long", "Device.WiFi.SSID.1.", req("SSID", strings.Repeat("x", 33)), usperr.InvalidValue},
		{"not an IPv4 address", "Device.IP.Interface.2.IPv4Address.1.", req("IPAddress", "192.168.1.300"), usperr.InvalidValue},
		{"not a date-time", "Device.LocalAgent.Controller.1.", req("PeriodicNotifTime", "yesterday"), usperr.InvalidType},
		{"write-once already set", "Device.WiFi.SSID.1.", req("Alias", "mine"), usperr.ParamReadOnly},
		{"boot image that does not exist", "Device.DeviceInfo.", req("BootFirmwareImage", "Device.DeviceInfo.FirmwareImage.7"), usperr.InvalidValue},
		{"active image unavailable", "Device.DeviceInfo.FirmwareImage.1.", req("Available", "false"), usperr.ValueConflict},
		{"reference to nothing", "Device.WiFi.AccessPoint.1.", req("SSIDReference", "Device.WiFi.SSID.9"), usperr.InvalidValue},
		{"reference to the wrong object", "Device.WiFi.AccessPoint.1.", req("SSIDReference", "Device.WiFi.Radio.1"), usperr.InvalidValue},
		{"duplicate unique key", "Device.WiFi.AccessPoint.1.", req("SSIDReference", "Device.WiFi.SSID.2"), usperr.ObjectDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			reply := h.do(ctrlA, usp.NewSet(false, setObj(tt.obj, tt.param)))
			e, ok := reply.(*usp.ErrorMsg)
			if !ok {
				t.Fatalf("allow_partial=false: reply %#v, want an Error", reply)
			}
			if e.Err.Code != usperr.RequiredParamFailed || len(e.Err.Params) != 1 ||
				e.Err.Params[0].Path != tt.obj+tt.param.Name || e.Err.Params[0].Code != tt.code {
				t.Fatalf("Error = %v; want 7021 with param_err %s%s %v", e.Err, tt.obj, tt.param.Name, tt.code)
			}

			resp, ok := h.do(ctrlA, usp.NewSet(true, setObj(tt.obj, tt.param))).(*usp.SetResp)
			if !ok || len(resp.Results) != 1 {
				t.Fatalf("allow_partial=true: %#v", resp)
			}
			r := resp.Results[0]
			if codeOf(r.Err) != usperr.RequiredParamFailed || len(r.Failed) != 1 || r.Failed[0].Path != tt.obj ||
				len(r.Failed[0].Params) != 1 || r.Failed[0].Params[0].Path != tt.param.Name || r.Failed[0].Params[0].Code != tt.code {
				t.Fatalf("oper_failure = %v %+v", r.Err, r.Failed)
			}
		})
	}
}

func TestSetPathErrors(t *testing.T) {
	tests := []struct {
		path string
		code usperr.Code
	}{
		{"Device.WiFi.SSID.9.", usperr.ObjectDoesNotExist},
		{`Device.IP.Interface.[Name=="eth9"].`, usperr.ObjectDoesNotExist},
		{"Device.Foo.", usperr.InvalidPath},
		{"Device.WiFi.SSID.", usperr.InvalidPath}, // a table without instances
		{"Device.WiFi.SSID.1.Enable", usperr.InvalidPath},
		{"Device.WiFi.SSID.1", usperr.InvalidPath},
		{"Device.WiFi..", usperr.InvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t)
			e, ok := h.do(ctrlA, usp.NewSet(false, setObj(tt.path, req("Enable", "true")))).(*usp.ErrorMsg)
			if !ok || e.Err.Code != tt.code || len(e.Err.Params) != 1 || e.Err.Params[0].Path != tt.path {
				t.Fatalf("allow_partial=false: %v, want %v with a param_err for the path", e, tt.code)
			}
			resp := h.do(ctrlA, usp.NewSet(true, setObj(tt.path, req("Enable", "true")))).(*usp.SetResp)
			if got := codeOf(resp.Results[0].Err); got != tt.code {
				t.Fatalf("allow_partial=true: %v, want %v", resp.Results[0].Err, tt.code)
			}
		})
	}
}

func TestSetSuccess(t *testing.T) {
	h := newHarness(t)
	resp, ok := h.do(ctrlA, usp.NewSet(false,
		setObj("Device.Time.", req("NTPServer3", "ntp.example.net")),
		setObj("Device.WiFi.SSID.2.", opt("Enable", "1"), opt("SSID", "Guest")),
		setObj("Device.WiFi.AccessPoint.1.", opt("Security.ModeEnabled", "WPA3-Personal")),
		setObj(`Device.IP.Interface.[Name=="br-lan"].`, req("MaxMTUSize", "1400")),
	)).(*usp.SetResp)
	if !ok || resp.Err() != nil || len(resp.Results) != 4 {
		t.Fatalf("Set: %#v", resp)
	}
	want := []struct {
		path   string
		params map[string]string
	}{
		{"Device.Time.", map[string]string{"NTPServer3": "ntp.example.net"}},
		{"Device.WiFi.SSID.2.", map[string]string{"Enable": "true", "SSID": "Guest"}}, // booleans come back canonical
		{"Device.WiFi.AccessPoint.1.", map[string]string{"Security.ModeEnabled": "WPA3-Personal"}},
		{"Device.IP.Interface.2.", map[string]string{"MaxMTUSize": "1400"}},
	}
	for i, w := range want {
		u := resp.Results[i].Updated
		if len(u) != 1 || u[0].Path != w.path || len(u[0].Params) != len(w.params) {
			t.Fatalf("result %d: %+v", i, u)
		}
		for k, v := range w.params {
			if u[0].Params[k] != v {
				t.Errorf("%s%s = %q, want %q", w.path, k, u[0].Params[k], v)
			}
		}
	}
	if v := h.value("Device.WiFi.SSID.2.Status"); v != "Up" {
		t.Errorf("enabling an SSID leaves Status %q", v)
	}
	if v := h.value("Device.IP.Interface.2.MaxMTUSize"); v != "1400" {
		t.Errorf("MaxMTUSize = %q", v)
	}
}

// TestSetNonRequiredFailure: a failed parameter that is not required does
// not fail the object, whatever allow_partial says.
func TestSetNonRequiredFailure(t *testing.T) {
	for _, partial := range []bool{false, true} {
		h := newHarness(t)
		resp, ok := h.do(ctrlA, usp.NewSet(partial, setObj("Device.Time.",
			opt("NTPServer3", "ntp.example.net"), opt("CurrentLocalTime", "2020-01-01T00:00:00Z")))).(*usp.SetResp)
		if !ok || resp.Err() != nil {
			t.Fatalf("allow_partial=%v: %#v", partial, resp)
		}
		u := resp.Results[0].Updated[0]
		if u.Params["NTPServer3"] != "ntp.example.net" || len(u.ParamErrs) != 1 ||
			u.ParamErrs[0].Path != "CurrentLocalTime" || u.ParamErrs[0].Code != usperr.ParamReadOnly {
			t.Fatalf("allow_partial=%v: %+v", partial, u)
		}
	}
}

// TestSetAllOrNothing: with allow_partial=false a failing object undoes the
// objects before it; with true only the failing object is left out.
func TestSetAllOrNothing(t *testing.T) {
	h := newHarness(t)
	objs := []usp.SetObject{
		setObj("Device.Time.", req("NTPServer3", "a.example.net")),
		setObj("Device.WiFi.Radio.1.", req("Channel", "999")),
	}
	if code := errCode(h.do(ctrlA, usp.NewSet(false, objs...))); code != usperr.RequiredParamFailed {
		t.Fatalf("code %v", code)
	}
	if v := h.value("Device.Time.NTPServer3"); v != "" {
		t.Fatalf("NTPServer3 = %q after a failed message", v)
	}
	resp := h.do(ctrlA, usp.NewSet(true, objs...)).(*usp.SetResp)
	if resp.Results[0].Err != nil || codeOf(resp.Results[1].Err) != usperr.RequiredParamFailed {
		t.Fatalf("results: %+v", resp.Results)
	}
	if v := h.value("Device.Time.NTPServer3"); v != "a.example.net" {
		t.Fatalf("NTPServer3 = %q", v)
	}
}

// TestSetSearchHolistic: a search path matching several objects is
// all-or-nothing and reported in a SetResp even with allow_partial=false
// (R-SET.2a).
func TestSetSearchHolistic(t *testing.T) {
	h := newHarness(t)
	// SSID is valid, LowerLayers (an SSID instead of a radio) is not: every
	// match fails, and the SSIDs already renamed must be renamed back.
	reply := h.do(ctrlA, usp.NewSet(false,
		setObj("Device.WiFi.SSID.*.", req("SSID", "Same"), req("LowerLayers", "Device.WiFi.SSID.1"))))
	resp, ok := reply.(*usp.SetResp)
	if !ok {
		t.Fatalf("reply %#v, want a SetResp (R-SET.2a)", reply)
	}
	r := resp.Results[0]
	if codeOf(r.Err) != usperr.RequiredParamFailed || len(r.Failed) != 4 {
		t.Fatalf("result %v %+v", r.Err, r.Failed)
	}
	if v := h.value("Device.WiFi.SSID.1.SSID"); v == "Same" {
		t.Fatal("a failed search Set left changes behind")
	}

	// The same search succeeding updates every match.
	resp = h.do(ctrlA, usp.NewSet(false, setObj("Device.WiFi.SSID.*.", req("SSID", "Same")))).(*usp.SetResp)
	if len(resp.Results[0].Updated) != 4 {
		t.Fatalf("updated %+v", resp.Results[0].Updated)
	}
	// A search matching nothing succeeds empty.
	resp = h.do(ctrlA, usp.NewSet(false, setObj(`Device.WiFi.SSID.[SSID=="nope"].`, req("SSID", "x")))).(*usp.SetResp)
	if r := resp.Results[0]; r.Err != nil || len(r.Updated) != 0 {
		t.Fatalf("empty search: %+v", r)
	}
}

func TestSetBootFirmwareImage(t *testing.T) {
	h := newHarness(t)
	h.set("Device.DeviceInfo.", "BootFirmwareImage", "Device.DeviceInfo.FirmwareImage.2.")
	if v := h.value("Device.DeviceInfo.BootFirmwareImage"); v != "Device.DeviceInfo.FirmwareImage.2" {
		t.Errorf("BootFirmwareImage = %q; references are stored without the final dot", v)
	}
}
