package agent

import (
	"testing"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

func addObj(path string, params ...usp.Param) usp.AddObject {
	return usp.AddObject{Path: path, Params: params}
}

func subParams(id string) []usp.Param {
	return []usp.Param{opt("Enable", "true"), opt("ID", id), opt("NotifType", "ValueChange"),
		req("ReferenceList", "Device.LocalAgent.SoftwareVersion")}
}

// TestAddSubscription follows TP-469 1.1: the unique keys come back,
// Recipient and CreationDate are the agent's.
func TestAddSubscription(t *testing.T) {
	h := newHarness(t)
	resp, ok := h.do(ctrlB, usp.NewAdd(false, addObj("Device.LocalAgent.Subscription.", subParams("add1")...))).(*usp.AddResp)
	if !ok || resp.Err() != nil {
		t.Fatalf("Add: %#v", resp)
	}
	r := resp.Results[0]
	if r.InstantiatedPath != "Device.LocalAgent.Subscription.1." || len(r.ParamErrs) != 0 {
		t.Fatalf("result %+v", r)
	}
	want := map[string]string{"Alias": "cpe-1", "Recipient": "Device.LocalAgent.Controller.2", "ID": "add1"}
	if len(r.UniqueKeys) != len(want) {
		t.Fatalf("unique keys %v, want %v", r.UniqueKeys, want)
	}
	for k, v := range want {
		if r.UniqueKeys[k] != v {
			t.Errorf("unique key %s = %q, want %q", k, r.UniqueKeys[k], v)
		}
	}
	if v := h.value(r.InstantiatedPath + "CreationDate"); v != "2026-03-01T12:00:00Z" {
		t.Errorf("CreationDate = %q", v)
	}
	if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "1" {
		t.Errorf("SubscriptionNumberOfEntries = %q", v)
	}
}

// TestAddNumbering: instance numbers are never reused (R-ARC.8), also not
// after a rolled-back Add.
func TestAddNumbering(t *testing.T) {
	h := newHarness(t)
	p1 := h.subscribe(ctrlA, "s1", "ValueChange", "Device.Time.Enable")
	p2 := h.subscribe(ctrlA, "s2", "ValueChange", "Device.Time.Enable")
	if p1 != "Device.LocalAgent.Subscription.1." || p2 != "Device.LocalAgent.Subscription.2." {
		t.Fatalf("paths %s %s", p1, p2)
	}
	if _, ok := h.do(ctrlA, usp.NewDelete(false, p2)).(*usp.DeleteResp); !ok {
		t.Fatal("delete failed")
	}
	if p := h.subscribe(ctrlA, "s3", "ValueChange", "Device.Time.Enable"); p != "Device.LocalAgent.Subscription.3." {
		t.Fatalf("after deleting 2, got %s", p)
	}
}

func TestAddErrors(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		obj    usp.AddObject
		code   usperr.Code
		params []string // the Error's param_errs paths
	}{
		{"not in the data model", ctrlA, addObj("Device.LocalAgent.InvalidObject.", subParams("x")...), usperr.InvalidPath,
			[]string{"Device.LocalAgent.InvalidObject."}},
		{"not a table", ctrlA, addObj("Device.DeviceInfo."), usperr.ObjectNotATable, []string{"Device.DeviceInfo."}},
		{"an instance", ctrlA, addObj("Device.WiFi.SSID.1."), usperr.ObjectNotATable, []string{"Device.WiFi.SSID.1."}},
		{"read-only table", ctrlA, addObj("Device.Hosts.Host."), usperr.ObjectNotCreatable, []string{"Device.Hosts.Host."}},
		{"parent does not exist", ctrlA, addObj("Device.LocalAgent.Controller.9.BootParameter."), usperr.ObjectDoesNotExist,
			[]string{"Device.LocalAgent.Controller.9.BootParameter."}},
		{"bad syntax", ctrlA, addObj("Device.LocalAgent.Subscription"), usperr.InvalidPath, []string{"Device.LocalAgent.Subscription"}},
		{"required invalid value", ctrlA, addObj("Device.LocalAgent.Subscription.",
			req("Enable", "InvalidValue"), opt("ID", "add3"), opt("NotifType", "ValueChange")), usperr.InvalidType,
			[]string{"Device.LocalAgent.Subscription.1.Enable"}},
		{"required read-only", ctrlA, addObj("Device.LocalAgent.Subscription.", req("Recipient", "Device.LocalAgent.Controller.2")),
			usperr.ParamReadOnly, []string{"Device.LocalAgent.Subscription.1.Recipient"}},
		{"required unknown", ctrlA, addObj("Device.LocalAgent.Subscription.", req("Colour", "red")),
			usperr.UnsupportedParameter, []string{"Device.LocalAgent.Subscription.1.Colour"}},
		{"bad reference list", ctrlA, addObj("Device.LocalAgent.Subscription.", req("ReferenceList", "Device..x")),
			usperr.InvalidValue, []string{"Device.LocalAgent.Subscription.1.ReferenceList"}},
		{"not a controller", "self::stranger", addObj("Device.LocalAgent.Subscription.", subParams("x")...),
			usperr.RequestDenied, []string{"Device.LocalAgent.Subscription."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			reply := h.do(tt.from, usp.NewAdd(false, tt.obj))
			e, ok := reply.(*usp.ErrorMsg)
			if !ok || e.Err.Code != tt.code || len(e.Err.Params) != len(tt.params) {
				t.Fatalf("allow_partial=false: %#v, want Error %v", reply, tt.code)
			}
			for i, p := range tt.params {
				if e.Err.Params[i].Path != p {
					t.Errorf("param_err %d = %s, want %s", i, e.Err.Params[i].Path, p)
				}
			}
			resp := h.do(tt.from, usp.NewAdd(true, tt.obj)).(*usp.AddResp)
			if got := codeOf(resp.Results[0].Err); got != tt.code {
				t.Fatalf("allow_partial=true: %v, want %v", resp.Results[0].Err, tt.code)
			}
			if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "0" {
				t.Errorf("a failed Add left %s subscriptions", v)
			}
		})
	}
}

// TestAddDuplicateKey: Recipient+ID is a unique key, so an ID can be used
// once per Controller.
func TestAddDuplicateKey(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "dup", "ValueChange", "Device.Time.Enable")
	if code := errCode(h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Subscription.", subParams("dup")...)))); code != usperr.ObjectDuplicateKey {
		t.Fatalf("same controller, same ID: code %v, want 7025", code)
	}
	resp := h.do(ctrlA, usp.NewAdd(true, addObj("Device.LocalAgent.Subscription.", subParams("dup")...))).(*usp.AddResp)
	if codeOf(resp.Results[0].Err) != usperr.ObjectDuplicateKey {
		t.Fatalf("allow_partial=true: %v", resp.Results[0].Err)
	}
	// The same ID for another Controller is another key.
	h.subscribe(ctrlB, "dup", "ValueChange", "Device.Time.Enable")
	// Agent-assigned keys never collide.
	resp = h.do(ctrlA, usp.NewAdd(false, addObj("Device.WiFi.SSID."), addObj("Device.WiFi.SSID."))).(*usp.AddResp)
	a, b := resp.Results[0].UniqueKeys, resp.Results[1].UniqueKeys
	if a["Name"] == b["Name"] || a["BSSID"] == b["BSSID"] || a["Alias"] == b["Alias"] || len(a) != 3 {
		t.Fatalf("agent-assigned keys %v %v", a, b)
	}
}

// TestAddPartial: allow_partial=true creates what it can; false creates
// nothing if one object fails (TP-469 1.6, R-ADD.1).
func TestAddPartial(t *testing.T) {
	objs := []usp.AddObject{
		addObj("Device.LocalAgent.Subscription.", subParams("ok")...),
		addObj("Device.LocalAgent.InvalidObject."),
	}
	h := newHarness(t)
	if code := errCode(h.do(ctrlA, usp.NewAdd(false, objs...))); code != usperr.InvalidPath {
		t.Fatalf("code %v", code)
	}
	if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "0" {
		t.Fatalf("%s subscriptions after a failed message", v)
	}
	resp := h.do(ctrlA, usp.NewAdd(true, objs...)).(*usp.AddResp)
	if resp.Results[0].Err != nil || codeOf(resp.Results[1].Err) != usperr.InvalidPath {
		t.Fatalf("results %+v", resp.Results)
	}
	// The rolled-back attempt did not use up instance number 1.
	if resp.Results[0].InstantiatedPath != "Device.LocalAgent.Subscription.1." {
		t.Fatalf("path %s", resp.Results[0].InstantiatedPath)
	}
	// A non-required failure is reported but does not stop the creation.
	resp = h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Subscription.",
		append(subParams("ok2"), opt("TimeToLive", "forever"))...))).(*usp.AddResp)
	if r := resp.Results[0]; r.Err != nil || len(r.ParamErrs) != 1 || r.ParamErrs[0].Path != "TimeToLive" || r.ParamErrs[0].Code != usperr.InvalidType {
		t.Fatalf("result %+v", r)
	}
}

// TestAddSearchParents: since USP 1.3 the parents may be a search; a row is
// created under each.
func TestAddSearchParents(t *testing.T) {
	h := newHarness(t)
	resp := h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.*.BootParameter.",
		opt("Enable", "true"), opt("ParameterName", "Device.DeviceInfo.SoftwareVersion")))).(*usp.AddResp)
	if len(resp.Results) != 2 || resp.Results[0].InstantiatedPath != "Device.LocalAgent.Controller.1.BootParameter.1." ||
		resp.Results[1].InstantiatedPath != "Device.LocalAgent.Controller.2.BootParameter.1." {
		t.Fatalf("results %+v", resp.Results)
	}
	// A second one with the same ParameterName under the same Controller
	// is a duplicate key.
	if code := errCode(h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.1.BootParameter.",
		opt("ParameterName", "Device.DeviceInfo.SoftwareVersion"))))); code != usperr.ObjectDuplicateKey {
		t.Fatalf("code %v", code)
	}
	// Parents matched by nothing: success, nothing created.
	resp = h.do(ctrlA, usp.NewAdd(false, addObj(`Device.LocalAgent.Controller.[Enable==false].BootParameter.`))).(*usp.AddResp)
	if len(resp.Results) != 1 || resp.Results[0].Err != nil || resp.Results[0].InstantiatedPath != "" {
		t.Fatalf("results %+v", resp.Results)
	}
}

// TestReferenceListImmutable: ReferenceList can be written when the
// subscription is created, then never again (7013, as for any
// writeOnceReadOnly parameter that is already set).
func TestReferenceListImmutable(t *testing.T) {
	h := newHarness(t)
	p := h.subscribe(ctrlA, "imm", "ValueChange", "Device.Time.Enable")
	resp := h.do(ctrlA, usp.NewSet(true, setObj(p, req("ReferenceList", "Device.Time.Status")))).(*usp.SetResp)
	if f := resp.Results[0].Failed; len(f) != 1 || f[0].Params[0].Code != usperr.ParamReadOnly {
		t.Fatalf("result %+v", resp.Results[0])
	}
	// One created without a ReferenceList may get one once.
	resp2 := h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Subscription.", opt("ID", "later")))).(*usp.AddResp)
	h.set(resp2.Results[0].InstantiatedPath, "ReferenceList", "Device.Time.Status")
}
