package agent

import (
	"testing"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

func TestDelete(t *testing.T) {
	h := newHarness(t)
	p1 := h.subscribe(ctrlA, "d1", "ValueChange", "Device.Time.Enable")
	resp, ok := h.do(ctrlA, usp.NewDelete(false, p1, "Device.LocalAgent.Subscription.99.")).(*usp.DeleteResp)
	if !ok || len(resp.Results) != 2 {
		t.Fatalf("Delete: %#v", resp)
	}
	if r := resp.Results[0]; r.Err != nil || len(r.Affected) != 1 || r.Affected[0] != p1 {
		t.Errorf("existing instance: %+v", r)
	}
	// R-DEL.2a, TP-469 1.25: an instance that does not exist is an empty
	// success.
	if r := resp.Results[1]; r.Err != nil || len(r.Affected) != 0 {
		t.Errorf("missing instance: %+v", r)
	}
	if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "0" {
		t.Errorf("SubscriptionNumberOfEntries = %s", v)
	}
}

func TestDeleteErrors(t *testing.T) {
	tests := []struct {
		path string
		code usperr.Code
	}{
		{"Device.LocalAgent.InvalidObject.", usperr.InvalidPath},
		{"Device.DeviceInfo.", usperr.ObjectNotATable},
		{"Device.WiFi.SSID.", usperr.InvalidPath}, // a table, but which instances?
		{"Device.Hosts.Host.1.", usperr.DeleteFailure},
		{"Device.WiFi.Radio.*.", usperr.DeleteFailure},
		{"Device.LocalAgent.Request.1.", 0}, // not deletable, but there is none: R-DEL.2a first
		{"Device.WiFi.SSID.1.Enable", usperr.InvalidPath},
		{"Device.WiFi.SSID.[Enable=true].", usperr.InvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t)
			reply := h.do(ctrlA, usp.NewDelete(false, tt.path))
			if tt.code == 0 {
				if resp, ok := reply.(*usp.DeleteResp); !ok || resp.Err() != nil {
					t.Fatalf("reply %#v", reply)
				}
				return
			}
			e, ok := reply.(*usp.ErrorMsg)
			if !ok || e.Err.Code != tt.code || len(e.Err.Params) != 1 || e.Err.Params[0].Path != tt.path || e.Err.Params[0].Code != tt.code {
				t.Fatalf("allow_partial=false: %#v, want Error %v naming the path (TP-469 1.26)", reply, tt.code)
			}
			resp := h.do(ctrlA, usp.NewDelete(true, tt.path)).(*usp.DeleteResp)
			if got := codeOf(resp.Results[0].Err); got != tt.code {
				t.Fatalf("allow_partial=true: %v, want %v", resp.Results[0].Err, tt.code)
			}
		})
	}
}

// TestDeletePartial: TP-469 1.28 and 1.31.
func TestDeletePartial(t *testing.T) {
	h := newHarness(t)
	p := h.subscribe(ctrlA, "d", "ValueChange", "Device.Time.Enable")
	if code := errCode(h.do(ctrlA, usp.NewDelete(false, p, "Device.LocalAgent.InvalidObject."))); code != usperr.InvalidPath {
		t.Fatalf("code %v", code)
	}
	if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "1" {
		t.Fatal("a failed Delete message deleted something")
	}
	resp := h.do(ctrlA, usp.NewDelete(true, p, "Device.LocalAgent.InvalidObject.")).(*usp.DeleteResp)
	if len(resp.Results[0].Affected) != 1 || codeOf(resp.Results[1].Err) != usperr.InvalidPath {
		t.Fatalf("results %+v", resp.Results)
	}
}

func TestDeleteSearch(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"Device.DeviceInfo.UpTime", "Device.DeviceInfo.SoftwareVersion", "Device.LocalAgent.EndpointID"} {
		enable := "true"
		if name == "Device.LocalAgent.EndpointID" {
			enable = "false"
		}
		h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.1.BootParameter.", opt("Enable", enable), opt("ParameterName", name))))
	}
	// TP-469 1.35: a search deletes only what it matches; 1.33: unique-key
	// addressing on the parent.
	resp := h.do(ctrlA, usp.NewDelete(false,
		`Device.LocalAgent.Controller.[EndpointID=="self::ctrl-a"].BootParameter.[Enable==true].`)).(*usp.DeleteResp)
	if r := resp.Results[0]; r.Err != nil || len(r.Affected) != 2 ||
		r.Affected[0] != "Device.LocalAgent.Controller.1.BootParameter.1." || r.Affected[1] != "Device.LocalAgent.Controller.1.BootParameter.2." {
		t.Fatalf("result %+v", r)
	}
	if v := h.value("Device.LocalAgent.Controller.1.BootParameterNumberOfEntries"); v != "1" {
		t.Fatalf("BootParameterNumberOfEntries = %s", v)
	}
	// A wildcard deletes the rest; then it matches nothing, successfully.
	for i := 0; i < 2; i++ {
		resp = h.do(ctrlA, usp.NewDelete(false, "Device.LocalAgent.Controller.*.BootParameter.*.")).(*usp.DeleteResp)
		if want := 1 - i; resp.Err() != nil || len(resp.Results[0].Affected) != want {
			t.Fatalf("round %d: %+v", i, resp.Results[0])
		}
	}
}
