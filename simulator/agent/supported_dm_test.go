package agent

import (
	"testing"

	"cuttle/devices/tr181"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

func gsdm(h *harness, firstLevel bool, paths ...string) *usp.GetSupportedDMResp {
	return h.do(ctrlA, &usp.GetSupportedDM{Paths: paths, FirstLevelOnly: firstLevel, ReturnCommands: true,
		ReturnEvents: true, ReturnParams: true, ReturnUniqueKeySets: true}).(*usp.GetSupportedDMResp)
}

func TestGetSupportedDMErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path string
		code usperr.Code
	}{
		{"Device.", 0},
		{"Device.WiFi.SSID.{i}.", 0},
		{"Device.WiFi.SSID.", 0}, // the final {i}. left out
		{"Device.WiFi.AccessPoint.{i}.AssociatedDevice.", 0},
		{"Device.WiFi.SSID.1.", 0}, // an instantiated path to an existing object
		{"Device.DeviceInfo.UpTime", 0},
		{"Device.DeviceInfo.FirmwareImage.{i}.Download()", 0},
		{"Device.Boot!", 0},
		{"Device.WiFi.SSID.9.", usperr.ObjectDoesNotExist},
		{"Device.Foo.", usperr.InvalidPath},
		{"Device.DeviceInfo.Foo", usperr.InvalidPath},
		{"Device.Foo()", usperr.InvalidPath},
		{"Device.DeviceInfo.{i}.", usperr.InvalidPath},
		{"Device..", usperr.InvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := gsdm(h, true, tt.path).Results[0]
			if codeOf(r.Err) != tt.code {
				t.Fatalf("code %v, want %v", r.Err, tt.code)
			}
			if tt.code == 0 && (r.DataModelURI != tr181.DataModelURI || len(r.Objects) == 0) {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func TestGetSupportedDM(t *testing.T) {
	h := newHarness(t)
	all := gsdm(h, false, "Device.").Results[0]
	if len(all.Objects) != len(tr181.Device().Objects()) {
		t.Errorf("Device. reports %d objects, the model has %d", len(all.Objects), len(tr181.Device().Objects()))
	}
	byPath := map[string]usp.SupportedObject{}
	for _, o := range all.Objects {
		byPath[o.Path] = o
	}
	fw := byPath["Device.DeviceInfo.FirmwareImage.{i}."]
	if !fw.MultiInstance || fw.Access != usp.ObjReadOnly || len(fw.UniqueKeySets) != 1 || fw.UniqueKeySets[0][0] != "Alias" {
		t.Errorf("FirmwareImage %+v", fw)
	}
	var download *usp.SupportedCommand
	for i, c := range fw.Commands {
		if c.Name == "Download()" {
			download = &fw.Commands[i]
		}
	}
	if download == nil || download.Type != usp.CommandAsync || len(download.Inputs) != 7 || download.Inputs[0] != "URL" {
		t.Errorf("Download() %+v", download)
	}
	sub := byPath["Device.LocalAgent.Subscription.{i}."]
	if sub.Access != usp.ObjAddDelete || len(sub.UniqueKeySets) != 2 {
		t.Errorf("Subscription %+v", sub)
	}
	params := map[string]usp.SupportedParam{}
	for _, p := range sub.Params {
		params[p.Name] = p
	}
	// writeOnceReadOnly is reported as read-write (TR-369).
	if p := params["ReferenceList"]; p.Access != usp.ParamReadWrite || p.Type != usp.TypeString {
		t.Errorf("ReferenceList %+v", p)
	}
	if p := params["CreationDate"]; p.Access != usp.ParamReadOnly || p.Type != usp.TypeDateTime || p.ValueChange != usp.ValueChangeAllowed {
		t.Errorf("CreationDate %+v", p)
	}
	root := byPath["Device."]
	if len(root.Events) != 1 || root.Events[0].Name != "Boot!" || len(root.Events[0].Args) != 5 || len(root.Commands) != 2 {
		t.Errorf("Device. %+v", root)
	}
	for _, o := range []string{"Device.Time.", "Device.WiFi.SSID.{i}.Stats.", "Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT."} {
		if _, ok := byPath[o]; !ok {
			t.Errorf("missing %s", o)
		}
	}
}

func TestGetSupportedDMFirstLevel(t *testing.T) {
	h := newHarness(t)
	r := gsdm(h, true, "Device.WiFi.").Results[0]
	var paths []string
	for _, o := range r.Objects {
		paths = append(paths, o.Path)
	}
	want := []string{"Device.WiFi.", "Device.WiFi.Radio.{i}.", "Device.WiFi.SSID.{i}.", "Device.WiFi.AccessPoint.{i}."}
	if len(paths) != len(want) {
		t.Fatalf("objects %v, want %v", paths, want)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("objects %v, want %v", paths, want)
		}
	}
	// The object itself in full, the children without parameters but with
	// their key sets (as in TR-369's example).
	if len(r.Objects[0].Params) != 3 || len(r.Objects[1].Params) != 0 || len(r.Objects[2].UniqueKeySets) != 3 {
		t.Errorf("details: %+v", r.Objects)
	}
	// Only what is asked for is returned.
	bare := h.do(ctrlA, &usp.GetSupportedDM{Paths: []string{"Device."}, FirstLevelOnly: true}).(*usp.GetSupportedDMResp)
	if o := bare.Results[0].Objects[0]; len(o.Params)+len(o.Commands)+len(o.Events)+len(o.UniqueKeySets) != 0 {
		t.Errorf("unrequested details: %+v", o)
	}
	// A parameter path reports that parameter alone.
	p := gsdm(h, false, "Device.Time.CurrentLocalTime").Results[0]
	if len(p.Objects) != 1 || len(p.Objects[0].Params) != 1 || p.Objects[0].Params[0].ValueChange != usp.ValueChangeWillIgnore {
		t.Errorf("parameter path: %+v", p.Objects)
	}
}

func TestGetInstances(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path       string
		firstLevel bool
		code       usperr.Code
		want       []string
	}{
		{"Device.WiFi.SSID.", true, 0, []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.3.", "Device.WiFi.SSID.4."}},
		{"Device.IP.Interface.", false, 0, []string{"Device.IP.Interface.1.", "Device.IP.Interface.1.IPv4Address.1.",
			"Device.IP.Interface.2.", "Device.IP.Interface.2.IPv4Address.1.", "Device.IP.Interface.3.", "Device.IP.Interface.3.IPv4Address.1."}},
		{"Device.IP.Interface.2.", false, 0, []string{"Device.IP.Interface.2.", "Device.IP.Interface.2.IPv4Address.1."}},
		{`Device.IP.Interface.[Type=="Loopback"].`, true, 0, []string{"Device.IP.Interface.3."}},
		{`Device.IP.Interface.[Type=="Tunnel"].`, true, 0, nil},
		{"Device.LocalAgent.Controller.*.MTP.", true, 0, []string{"Device.LocalAgent.Controller.1.MTP.1.", "Device.LocalAgent.Controller.2.MTP.1."}},
		{"Device.DeviceInfo.", true, usperr.ObjectNotATable, nil},
		{"Device.WiFi.SSID.9.", true, usperr.ObjectDoesNotExist, nil},
		{"Device.Foo.", true, usperr.InvalidPath, nil},
		{"Device.WiFi.SSID.1.SSID", true, usperr.InvalidPath, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := h.do(ctrlA, usp.NewGetInstances(tt.firstLevel, tt.path)).(*usp.GetInstancesResp).Results[0]
			if codeOf(r.Err) != tt.code {
				t.Fatalf("code %v, want %v", r.Err, tt.code)
			}
			if len(r.Instances) != len(tt.want) {
				t.Fatalf("instances %+v, want %v", r.Instances, tt.want)
			}
			for i, w := range tt.want {
				if r.Instances[i].Path != w {
					t.Fatalf("instance %d = %s, want %s", i, r.Instances[i].Path, w)
				}
			}
		})
	}
	r := h.do(ctrlA, usp.NewGetInstances(true, "Device.WiFi.SSID.")).(*usp.GetInstancesResp).Results[0]
	keys := r.Instances[0].UniqueKeys
	if len(keys) != 3 || keys["Alias"] != "cpe-1" || keys["Name"] != "wl0.0" || keys["BSSID"] == "" {
		t.Errorf("SSID.1 keys %v", keys)
	}
}

func TestOtherMessages(t *testing.T) {
	h := newHarness(t)
	resp, ok := h.do(ctrlA, usp.NewGetSupportedProtocol("1.3")).(*usp.GetSupportedProtocolResp)
	if !ok || len(resp.Versions) != 5 || resp.Versions[0] != "1.0" || resp.Versions[4] != "1.4" {
		t.Errorf("GetSupportedProtocol: %#v", resp)
	}
	for _, b := range []usp.Body{&usp.Notify{Notification: &usp.ObjectDeletion{Path: "Device.X.1."}}, &usp.Register{}, &usp.Deregister{}} {
		if code := errCode(h.do(ctrlA, b)); code != usperr.MessageNotSupported {
			t.Errorf("%T: code %v, want 7001", b, code)
		}
	}
	for _, b := range []usp.Body{&usp.GetResp{}, &usp.ErrorMsg{Err: usperr.New(usperr.InternalError, "x")}, usp.NewNotifyResp("unknown")} {
		if reply := h.do(ctrlA, b); reply != nil {
			t.Errorf("%T answered with %#v", b, reply)
		}
	}
}
