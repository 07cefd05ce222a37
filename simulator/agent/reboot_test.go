package agent

import (
	"encoding/json"
	"testing"
	"time"

	"cuttle/usp"
)

// bootOf returns the Boot! event in n, failing the test if it is not one.
func bootOf(t *testing.T, n *usp.Notify) usp.Boot {
	t.Helper()
	ev, ok := n.Notification.(*usp.Event)
	if !ok || !ev.IsBoot() {
		t.Fatalf("not Boot!: %+v", n.Notification)
	}
	b, err := ev.Boot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRebootCycle(t *testing.T) {
	h := newHarness(t)
	h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.1.BootParameter.",
		opt("Enable", "true"), opt("ParameterName", "Device.DeviceInfo.SoftwareVersion"))))
	h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.1.BootParameter.",
		opt("Enable", "true"), opt("ParameterName", "Device.IP.Interface.*.Name"))))
	h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.1.BootParameter.",
		opt("Enable", "false"), opt("ParameterName", "Device.DeviceInfo.Manufacturer"))))
	h.subscribe(ctrlA, "boot-a", "Event", "Device.Boot!", opt("Persistent", "true"), opt("NotifRetry", "true"))
	h.subscribe(ctrlB, "boot-b", "Event", "Device.", opt("Persistent", "true"))
	h.subscribe(ctrlA, "gone", "ValueChange", "Device.DeviceInfo.UpTime")
	h.tick(100 * time.Second)
	h.take()

	h.do(ctrlA, usp.NewOperate("Device.Reboot()", "rb-42", false, map[string]string{"Reason": "maintenance"}))
	if pending, _ := h.a.Rebooting(); !pending {
		t.Fatal("no reboot pending")
	}
	h.clock.advance(30 * time.Second) // the MTP layer is reconnecting
	h.a.Rebooted()
	if pending, _ := h.a.Rebooting(); pending {
		t.Fatal("still rebooting")
	}
	out := h.take()
	if len(out) != 2 {
		t.Fatalf("%d notifications, want Boot! to each Controller", len(out))
	}
	byTo := map[string]*usp.Notify{}
	for _, s := range out {
		byTo[s.to] = s.msg.Body.(*usp.Notify)
	}
	a := byTo[ctrlA]
	b := bootOf(t, a)
	if a.SubscriptionID != "boot-a" || !a.SendResp || b.Cause != usp.CauseRemoteReboot || b.CommandKey != "rb-42" ||
		b.Reason != "maintenance" || b.FirmwareUpdated {
		t.Errorf("Boot! to A: %+v %+v", a, b)
	}
	want := map[string]string{
		"Device.DeviceInfo.SoftwareVersion": h.a.dev.Firmware,
		"Device.IP.Interface.1.Name":        "eth0", "Device.IP.Interface.2.Name": "br-lan", "Device.IP.Interface.3.Name": "lo",
	}
	if js, _ := json.Marshal(b.ParameterMap); len(b.ParameterMap) != len(want) {
		t.Errorf("ParameterMap %s", js)
	}
	for k, v := range want {
		if b.ParameterMap[k] != v {
			t.Errorf("ParameterMap[%s] = %q, want %q", k, b.ParameterMap[k], v)
		}
	}
	// B has no BootParameters: an empty map.
	if bb := bootOf(t, byTo[ctrlB]); len(bb.ParameterMap) != 0 || byTo[ctrlB].SendResp {
		t.Errorf("Boot! to B: %+v", bb)
	}
	if v := h.value("Device.DeviceInfo.UpTime"); v != "0" {
		t.Errorf("UpTime = %s after the reboot", v)
	}
	// The non-persistent subscription is gone, the persistent ones stay.
	if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "2" {
		t.Errorf("SubscriptionNumberOfEntries = %s", v)
	}
	h.tick(time.Second)
	for _, n := range h.notifies() {
		if n.SubscriptionID == "gone" {
			t.Error("a non-persistent subscription survived the reboot")
		}
	}
	// The MTP layer reports Boot! itself after the first connection.
	h.a.BootNotifies(usp.CauseLocalReboot, "", false)
	if ns := h.notifies(); len(ns) != 2 || bootOf(t, ns[0]).Cause != usp.CauseLocalReboot {
		t.Errorf("BootNotifies: %+v", ns)
	}
}

// TestActivate: Download, then Activate, reboots into the new image:
// SoftwareVersion changes, Boot! says FirmwareUpdated, and Activate()'s
// OperationComplete follows.
func TestActivate(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "boot", "Event", "Device.Boot!", opt("Persistent", "true"))
	h.subscribe(ctrlA, "act", "OperationComplete", "Device.DeviceInfo.FirmwareImage.2.Activate()", opt("Persistent", "true"))
	h.subscribe(ctrlA, "sw", "ValueChange", "Device.DeviceInfo.SoftwareVersion", opt("Persistent", "true"))
	h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "dl", false,
		downloadArgs("https://fw.example.com/cl-hg4000-4.3.0.bin")))
	h.tick(h.secondsOf("download"))
	resp := h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Activate()", "act-1", true,
		map[string]string{"TimeWindow.1.Start": "5", "TimeWindow.1.End": "3600", "TimeWindow.1.Mode": "AnyTime"})).(*usp.OperateResp)
	if !resp.Results[0].Async() {
		t.Fatalf("Activate: %+v", resp.Results[0])
	}
	h.tick(4 * time.Second)
	if pending, _ := h.a.Rebooting(); pending {
		t.Fatal("activated before its time window")
	}
	h.tick(time.Second)
	if pending, cause := h.a.Rebooting(); !pending || cause != usp.CauseRemoteReboot {
		t.Fatalf("Rebooting = %v %s", pending, cause)
	}
	if v := h.value("Device.DeviceInfo.SoftwareVersion"); v != h.a.dev.Firmware {
		t.Fatalf("SoftwareVersion changed before the reboot: %s", v)
	}
	h.take()
	h.a.Rebooted()
	ns := h.notifies()
	if len(ns) != 3 {
		t.Fatalf("%d notifications: %+v", len(ns), ns)
	}
	b := bootOf(t, ns[0])
	if !b.FirmwareUpdated || b.CommandKey != "act-1" {
		t.Errorf("Boot! %+v", b)
	}
	if vc, ok := ns[1].Notification.(*usp.ValueChange); !ok || vc.Value != "4.3.0" {
		t.Errorf("second %+v", ns[1].Notification)
	}
	if oc, ok := ns[2].Notification.(*usp.OperationComplete); !ok || oc.Command != "Activate()" || oc.CommandKey != "act-1" || oc.Err != nil {
		t.Errorf("third %+v", ns[2].Notification)
	}
	for param, want := range map[string]string{
		"Device.DeviceInfo.SoftwareVersion":              "4.3.0",
		"Device.DeviceInfo.ActiveFirmwareImage":          "Device.DeviceInfo.FirmwareImage.2",
		"Device.DeviceInfo.FirmwareImage.2.Status":       "Active",
		"Device.DeviceInfo.FirmwareImage.1.Status":       "Available",
		"Device.LocalAgent.RequestNumberOfEntries":       "0",
		"Device.LocalAgent.SubscriptionNumberOfEntries":  "3",
		"Device.DeviceInfo.FirmwareImageNumberOfEntries": "2",
	} {
		if v := h.value(param); v != want {
			t.Errorf("%s = %q, want %q", param, v, want)
		}
	}
}

// TestAutoActivate: a Download with AutoActivate reboots into the image
// when it is complete.
func TestAutoActivate(t *testing.T) {
	h := newHarness(t)
	h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "auto", false,
		map[string]string{"URL": "https://fw.example.com/cl-hg4000-5.0.1.bin", "AutoActivate": "1"}))
	h.tick(h.secondsOf("download"))
	if pending, _ := h.a.Rebooting(); !pending {
		t.Fatal("no reboot after an AutoActivate download")
	}
	h.a.Rebooted()
	if v := h.value("Device.DeviceInfo.SoftwareVersion"); v != "5.0.1" {
		t.Errorf("SoftwareVersion = %s", v)
	}
}

func TestFactoryReset(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "boot", "Event", "Device.Boot!", opt("Persistent", "true"))
	h.set("Device.Time.", "NTPServer3", "ntp.example.net")
	h.set("Device.DeviceInfo.", "BootFirmwareImage", "Device.DeviceInfo.FirmwareImage.2")
	h.do(ctrlA, usp.NewOperate("Device.FactoryReset()", "fr", false, nil))
	h.a.Rebooted()
	// Everything the Controllers configured is gone, persistent
	// subscriptions included, so nobody hears Boot!.
	if ns := h.notifies(); len(ns) != 0 {
		t.Errorf("notifications after a factory reset: %+v", ns)
	}
	for param, want := range map[string]string{
		"Device.Time.NTPServer3":                        "",
		"Device.LocalAgent.SubscriptionNumberOfEntries": "0",
		"Device.LocalAgent.ControllerNumberOfEntries":   "2",
		// The firmware is not reset: it booted the image it was told to.
		"Device.DeviceInfo.SoftwareVersion": h.a.dev.PreviousFirmware,
	} {
		if v := h.value(param); v != want {
			t.Errorf("%s = %q, want %q", param, v, want)
		}
	}
}
