package agent

import (
	"strings"
	"testing"
	"time"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// valueChanges returns the ValueChange notifications in ns as path→value.
func valueChanges(ns []*usp.Notify) map[string]string {
	out := map[string]string{}
	for _, n := range ns {
		if vc, ok := n.Notification.(*usp.ValueChange); ok {
			out[vc.Path] = vc.Value
		}
	}
	return out
}

func TestValueChangeUpTime(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "vc-up", "ValueChange", "Device.DeviceInfo.UpTime")
	h.tick(time.Second)
	out := h.take()
	if len(out) != 1 || out[0].to != ctrlA {
		t.Fatalf("outbox %+v", out)
	}
	n := out[0].msg.Body.(*usp.Notify)
	vc, ok := n.Notification.(*usp.ValueChange)
	if !ok || n.SubscriptionID != "vc-up" || n.SendResp || vc.Path != "Device.DeviceInfo.UpTime" || vc.Value != "1" {
		t.Fatalf("notify %+v %+v", n, n.Notification)
	}
	if out[0].msg.ID == "" {
		t.Error("no msg_id")
	}
	// Each change is notified; no change, no notification.
	h.tick(5 * time.Second)
	if vcs := valueChanges(h.notifies()); vcs["Device.DeviceInfo.UpTime"] != "6" {
		t.Fatalf("after 5 s: %v", vcs)
	}
	h.tick(0)
	if ns := h.notifies(); len(ns) != 0 {
		t.Fatalf("no time passed, yet %d notifications", len(ns))
	}
}

func TestValueChangeStatsAndSubtree(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlB, "vc-stats", "ValueChange", "Device.WiFi.SSID.1.Stats.")
	h.subscribe(ctrlA, "vc-search", "ValueChange", "Device.WiFi.SSID.[Enable==true].Stats.BytesSent")
	h.tick(10 * time.Second)
	got := map[string]map[string]string{}
	for _, s := range h.take() {
		n := s.msg.Body.(*usp.Notify)
		vc := n.Notification.(*usp.ValueChange)
		if got[n.SubscriptionID] == nil {
			got[n.SubscriptionID] = map[string]string{}
		}
		got[n.SubscriptionID][vc.Path] = vc.Value
		if want := map[string]string{"vc-stats": ctrlB, "vc-search": ctrlA}[n.SubscriptionID]; s.to != want {
			t.Errorf("%s went to %s", n.SubscriptionID, s.to)
		}
	}
	// The subtree covers every counter of SSID 1 that moved.
	if len(got["vc-stats"]) < 4 || got["vc-stats"]["Device.WiFi.SSID.1.Stats.BytesReceived"] == "" {
		t.Errorf("vc-stats: %v", got["vc-stats"])
	}
	// The search covers BytesSent of the enabled SSIDs (1 and 3) only.
	if len(got["vc-search"]) != 2 || got["vc-search"]["Device.WiFi.SSID.3.Stats.BytesSent"] == "" {
		t.Errorf("vc-search: %v", got["vc-search"])
	}
}

// TestValueChangeOwnSet: changes the subscriber made itself are notified
// too (TR-369 "ValueChange"); disabled subscriptions are silent.
func TestValueChangeOwnSet(t *testing.T) {
	h := newHarness(t)
	p := h.subscribe(ctrlA, "vc-ntp", "ValueChange", "Device.Time.NTPServer3")
	h.set("Device.Time.", "NTPServer3", "ntp.example.net")
	if vcs := valueChanges(h.notifies()); vcs["Device.Time.NTPServer3"] != "ntp.example.net" {
		t.Fatalf("notifications %v", vcs)
	}
	// Setting the same value again is no change.
	h.set("Device.Time.", "NTPServer3", "ntp.example.net")
	if ns := h.notifies(); len(ns) != 0 {
		t.Fatalf("%d notifications for an unchanged value", len(ns))
	}
	h.set(p, "Enable", "false")
	h.set("Device.Time.", "NTPServer3", "other.example.net")
	if ns := h.notifies(); len(ns) != 0 {
		t.Fatalf("a disabled subscription notified %d times", len(ns))
	}
	// A failed message notifies nothing.
	h.set(p, "Enable", "true")
	h.do(ctrlA, usp.NewSet(false, setObj("Device.Time.", req("NTPServer3", "x")), setObj("Device.Nothing.", req("A", "b"))))
	if ns := h.notifies(); len(ns) != 0 {
		t.Fatalf("a rolled-back Set notified %d times", len(ns))
	}
}

// TestHostsJoinAndLeave: over a simulated day hosts come and go; each
// arrival is an ObjectCreation with the unique keys, each departure an
// ObjectDeletion, and HostNumberOfEntries follows.
func TestHostsJoinAndLeave(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "oc", "ObjectCreation", "Device.Hosts.Host.")
	h.subscribe(ctrlA, "od", "ObjectDeletion", "Device.Hosts.Host.*.")
	h.subscribe(ctrlA, "oc-wifi", "ObjectCreation", "Device.WiFi.AccessPoint.*.AssociatedDevice.")
	h.subscribe(ctrlA, "vc-count", "ValueChange", "Device.Hosts.HostNumberOfEntries")
	created, deleted, wifi, counts := 0, 0, 0, 0
	for i := 0; i < 8640 && (created == 0 || deleted == 0 || wifi == 0); i++ {
		h.tick(10 * time.Second)
		for _, n := range h.notifies() {
			switch x := n.Notification.(type) {
			case *usp.ObjectCreation:
				if strings.HasPrefix(x.Path, "Device.Hosts.Host.") {
					created++
					if x.UniqueKeys["PhysAddress"] == "" || x.UniqueKeys["Alias"] == "" {
						t.Errorf("creation of %s without unique keys: %v", x.Path, x.UniqueKeys)
					}
				} else {
					wifi++
					if x.UniqueKeys["MACAddress"] == "" {
						t.Errorf("creation of %s without MACAddress", x.Path)
					}
				}
			case *usp.ObjectDeletion:
				deleted++
			case *usp.ValueChange:
				counts++
			}
		}
	}
	if created == 0 || deleted == 0 || wifi == 0 {
		t.Fatalf("in a simulated day: %d hosts joined, %d left, %d Wi-Fi clients associated", created, deleted, wifi)
	}
	if counts != created+deleted {
		t.Errorf("%d HostNumberOfEntries changes for %d joins and %d leaves", counts, created, deleted)
	}
	n := len(h.a.root.child("Hosts").rows(dm().host))
	if n < h.a.prof.Hosts.Min || n > h.a.prof.Hosts.Max {
		t.Errorf("%d hosts, outside the profile's range", n)
	}
}

func TestObjectCreationOnAdd(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlB, "oc-bp", "ObjectCreation", "Device.LocalAgent.Controller.*.BootParameter.")
	h.do(ctrlA, usp.NewAdd(false, addObj("Device.LocalAgent.Controller.1.BootParameter.", opt("ParameterName", "Device.DeviceInfo.UpTime"))))
	out := h.take()
	if len(out) != 1 || out[0].to != ctrlB {
		t.Fatalf("outbox %+v", out)
	}
	oc := out[0].msg.Body.(*usp.Notify).Notification.(*usp.ObjectCreation)
	if oc.Path != "Device.LocalAgent.Controller.1.BootParameter.1." || oc.UniqueKeys["ParameterName"] != "Device.DeviceInfo.UpTime" {
		t.Fatalf("creation %+v", oc)
	}
	h.subscribe(ctrlB, "od-bp", "ObjectDeletion", "Device.LocalAgent.Controller.1.BootParameter.1.")
	h.do(ctrlA, usp.NewDelete(false, "Device.LocalAgent.Controller.1.BootParameter.*."))
	if ns := h.notifies(); len(ns) != 1 || ns[0].Notification.(*usp.ObjectDeletion).Path != "Device.LocalAgent.Controller.1.BootParameter.1." {
		t.Fatalf("deletion %+v", ns)
	}
}

func TestPeriodic(t *testing.T) {
	h := newHarness(t)
	h.set("Device.LocalAgent.Controller.1.", "PeriodicNotifInterval", "60")
	h.subscribe(ctrlA, "periodic", "Event", "Device.LocalAgent.Periodic!")
	h.subscribe(ctrlB, "periodic-b", "Event", "Device.LocalAgent.Periodic!") // B keeps the daily default
	var at []time.Duration
	for i := 1; i <= 300; i++ {
		h.tick(time.Second)
		for _, s := range h.take() {
			ev, ok := s.msg.Body.(*usp.Notify).Notification.(*usp.Event)
			if !ok || ev.Path() != "Device.LocalAgent.Periodic!" || s.to != ctrlA {
				t.Fatalf("unexpected %s %+v", s.to, s.msg.Body)
			}
			at = append(at, time.Duration(i)*time.Second)
		}
	}
	// Fire times are boot + k·60 s, with Unknown PeriodicNotifTime.
	if len(at) != 5 || at[0] != 60*time.Second || at[4] != 300*time.Second {
		t.Fatalf("Periodic! at %v", at)
	}
	// PeriodicNotifTime sets the phase.
	h.set("Device.LocalAgent.Controller.1.", "PeriodicNotifTime", epoch.Add(330*time.Second).Format(time.RFC3339))
	h.tick(20 * time.Second) // 320 s: not yet
	h.tick(10 * time.Second) // 330 s
	h.tick(10 * time.Second)
	if ns := h.notifies(); len(ns) != 1 {
		t.Fatalf("%d Periodic! around the new phase", len(ns))
	}
}

func downloadArgs(url string) map[string]string {
	return map[string]string{"URL": url, "AutoActivate": "false"}
}

func TestOperationCompleteAfterDownload(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "oc-dl", "OperationComplete", "Device.DeviceInfo.FirmwareImage.*.Download()")
	h.subscribe(ctrlA, "tc", "Event", "Device.LocalAgent.TransferComplete!")
	h.subscribe(ctrlA, "req-gone", "ObjectDeletion", "Device.LocalAgent.Request.")
	h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "dl-7", true,
		downloadArgs("https://fw.example.com/cl-hg4000-4.3.0.bin")))
	h.tick(h.secondsOf("download") - time.Second)
	if ns := h.notifies(); len(ns) != 0 {
		t.Fatalf("finished early: %+v", ns)
	}
	h.tick(time.Second)
	ns := h.notifies()
	if len(ns) != 3 {
		t.Fatalf("%d notifications, want OperationComplete, TransferComplete! and the Request's deletion", len(ns))
	}
	oc, ok := ns[0].Notification.(*usp.OperationComplete)
	if !ok || oc.ObjPath != "Device.DeviceInfo.FirmwareImage.2." || oc.Command != "Download()" || oc.CommandKey != "dl-7" || oc.Err != nil {
		t.Fatalf("first %+v", ns[0].Notification)
	}
	ev, ok := ns[1].Notification.(*usp.Event)
	if !ok || ev.Path() != "Device.LocalAgent.TransferComplete!" || ev.Params["FaultCode"] != "0" ||
		ev.Params["CommandKey"] != "dl-7" || ev.Params["TransferType"] != "Download" || ev.Params["Requestor"] != ctrlA {
		t.Fatalf("second %+v", ns[1].Notification)
	}
	if od, ok := ns[2].Notification.(*usp.ObjectDeletion); !ok || od.Path != "Device.LocalAgent.Request.1." {
		t.Fatalf("third %+v", ns[2].Notification)
	}
	if v := h.value("Device.DeviceInfo.FirmwareImage.2.Status"); v != "Available" {
		t.Errorf("Status = %q", v)
	}

	// A failing transfer ends with cmd_failure 7022.
	h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "dl-8", false,
		downloadArgs("https://fw.example.com/fail.bin")))
	h.tick(h.secondsOf("download"))
	ns = h.notifies()
	if oc, ok := ns[0].Notification.(*usp.OperationComplete); !ok || codeOf(oc.Err) != usperr.CommandFailure {
		t.Fatalf("failed download: %+v", ns[0].Notification)
	}
	if v := h.value("Device.DeviceInfo.FirmwareImage.2.Status"); v != "DownloadFailed" {
		t.Errorf("Status = %q", v)
	}
}

func TestCancel(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "oc", "OperationComplete", "Device.DeviceInfo.")
	resp := h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "dl", true,
		downloadArgs("https://fw.example.com/cl-hg4000-4.3.0.bin"))).(*usp.OperateResp)
	req := resp.Results[0].RequestPath
	cancel := h.do(ctrlB, usp.NewOperate(req+"Cancel()", "", true, nil)).(*usp.OperateResp)
	if cancel.Results[0].Err != nil {
		t.Fatalf("Cancel: %v", cancel.Results[0].Err)
	}
	ns := h.notifies()
	if len(ns) != 1 || codeOf(ns[0].Notification.(*usp.OperationComplete).Err) != usperr.CommandCanceled {
		t.Fatalf("notifications %+v", ns)
	}
	if v := h.value("Device.DeviceInfo.FirmwareImage.2.Status"); v != "Available" {
		t.Errorf("Status after cancel = %q", v)
	}
	h.tick(time.Hour)
	if ns := h.notifies(); len(ns) != 0 {
		t.Errorf("a cancelled download completed: %+v", ns)
	}
}
