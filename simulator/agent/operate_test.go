package agent

import (
	"testing"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

func TestOperateErrors(t *testing.T) {
	tests := []struct {
		command string
		code    usperr.Code
	}{
		{"Device.Foo()", usperr.InvalidPath},
		{"Device.DeviceInfo.Foo()", usperr.InvalidPath},
		{"Device.DeviceInfo.", usperr.InvalidPath},
		{"Device.Boot!", usperr.InvalidPath},
		{"Device.Nothing.Reboot()", usperr.InvalidPath},
		{"Device.DeviceInfo.FirmwareImage.Download()", usperr.InvalidPath},
		{"Device.DeviceInfo.FirmwareImage.9.Download()", usperr.ObjectDoesNotExist},
		{"Device.Reboot(", usperr.InvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			h := newHarness(t)
			for _, sendResp := range []bool{true, false} {
				if code := errCode(h.do(ctrlA, usp.NewOperate(tt.command, "k", sendResp, nil))); code != tt.code {
					t.Fatalf("send_resp=%v: code %v, want %v", sendResp, code, tt.code)
				}
			}
		})
	}
}

func TestOperateCommandFailures(t *testing.T) {
	url := map[string]string{"URL": "https://fw.example.com/cl-hg4000-4.3.0.bin", "AutoActivate": "false"}
	without := func(k string) map[string]string {
		m := map[string]string{}
		for kk, v := range url {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	with := func(k, v string) map[string]string {
		m := without(k)
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		command string
		args    map[string]string
		code    usperr.Code
	}{
		{"missing URL", "Device.DeviceInfo.FirmwareImage.2.Download()", without("URL"), usperr.InvalidCommandArguments},
		{"missing AutoActivate", "Device.DeviceInfo.FirmwareImage.2.Download()", without("AutoActivate"), usperr.InvalidCommandArguments},
		{"not a URL", "Device.DeviceInfo.FirmwareImage.2.Download()", with("URL", "ftp:/nothing"), usperr.InvalidCommandArguments},
		{"AutoActivate not boolean", "Device.DeviceInfo.FirmwareImage.2.Download()", with("AutoActivate", "maybe"), usperr.InvalidCommandArguments},
		{"onto the running image", "Device.DeviceInfo.FirmwareImage.1.Download()", url, usperr.CommandFailure},
		{"reboot cause", "Device.Reboot()", map[string]string{"Cause": "Bored"}, usperr.InvalidCommandArguments},
		{"factory reset cause", "Device.FactoryReset()", map[string]string{"Cause": "RemoteReboot"}, usperr.InvalidCommandArguments},
		{"time window without Mode", "Device.DeviceInfo.FirmwareImage.2.Activate()",
			map[string]string{"TimeWindow.1.Start": "0", "TimeWindow.1.End": "60"}, usperr.InvalidCommandArguments},
		{"time window backwards", "Device.DeviceInfo.FirmwareImage.2.Activate()",
			map[string]string{"TimeWindow.1.Start": "60", "TimeWindow.1.End": "0", "TimeWindow.1.Mode": "AnyTime"}, usperr.InvalidCommandArguments},
		{"cancel without operation", "Device.LocalAgent.Request.*.Cancel()", nil, 0}, // matches nothing
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			resp, ok := h.do(ctrlA, usp.NewOperate(tt.command, "k", true, tt.args)).(*usp.OperateResp)
			if !ok {
				t.Fatalf("not an OperateResp: failures go in cmd_failure (R-OPR.1)")
			}
			if tt.code == 0 {
				if len(resp.Results) != 0 {
					t.Fatalf("results %+v", resp.Results)
				}
				return
			}
			if len(resp.Results) != 1 || codeOf(resp.Results[0].Err) != tt.code {
				t.Fatalf("results %+v, want cmd_failure %v", resp.Results, tt.code)
			}
			if pending, _ := h.a.Rebooting(); pending {
				t.Error("a failed command scheduled a reboot")
			}
		})
	}
}

func TestOperateReboot(t *testing.T) {
	h := newHarness(t)
	resp := h.do(ctrlA, usp.NewOperate("Device.Reboot()", "rb-1", true, nil)).(*usp.OperateResp)
	if r := resp.Results[0]; r.Command != "Device.Reboot()" || r.Err != nil || r.Output == nil || r.Async() {
		t.Fatalf("result %+v: want a synchronous success with req_output_args", r)
	}
	if pending, cause := h.a.Rebooting(); !pending || cause != usp.CauseRemoteReboot {
		t.Fatalf("Rebooting = %v %q", pending, cause)
	}
	h2 := newHarness(t)
	if reply := h2.do(ctrlA, usp.NewOperate("Device.FactoryReset()", "fr", false, nil)); reply != nil {
		t.Fatalf("send_resp=false: reply %#v", reply)
	}
	if pending, cause := h2.a.Rebooting(); !pending || cause != usp.CauseRemoteFactoryReset {
		t.Fatalf("Rebooting = %v %q", pending, cause)
	}
}

func TestOperateAsync(t *testing.T) {
	h := newHarness(t)
	resp := h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.*.Download()", "dl-1", true,
		map[string]string{"URL": "https://fw.example.com/cl-hg4000-4.3.0.bin", "AutoActivate": "false", "Unknown": "ignored"})).(*usp.OperateResp)
	if len(resp.Results) != 2 {
		t.Fatalf("results %+v", resp.Results)
	}
	// Image 1 runs: that one fails on its own, image 2 starts (R-OPR.1).
	if codeOf(resp.Results[0].Err) != usperr.CommandFailure {
		t.Errorf("image 1: %+v", resp.Results[0])
	}
	r := resp.Results[1]
	if r.Command != "Device.DeviceInfo.FirmwareImage.2.Download()" || r.RequestPath != "Device.LocalAgent.Request.1." {
		t.Fatalf("image 2: %+v", r)
	}
	for param, want := range map[string]string{
		"Originator": ctrlA, "Command": "Device.DeviceInfo.FirmwareImage.2.Download()", "CommandKey": "dl-1", "Status": "Active",
	} {
		if v := h.value(r.RequestPath + param); v != want {
			t.Errorf("Request %s = %q, want %q", param, v, want)
		}
	}
	if v := h.value("Device.DeviceInfo.FirmwareImage.2.Status"); v != "Downloading" {
		t.Errorf("image Status = %q", v)
	}
	// A second Download into the same image is refused while the first runs.
	resp = h.do(ctrlA, usp.NewOperate("Device.DeviceInfo.FirmwareImage.2.Download()", "dl-2", true,
		map[string]string{"URL": "https://fw.example.com/x.bin", "AutoActivate": "false"})).(*usp.OperateResp)
	if codeOf(resp.Results[0].Err) != usperr.ResourcesExceeded {
		t.Errorf("concurrent download: %+v", resp.Results[0])
	}
	// The Request row goes when the operation ends.
	h.tick(h.secondsOf("download"))
	if v := h.value("Device.LocalAgent.RequestNumberOfEntries"); v != "0" {
		t.Errorf("RequestNumberOfEntries = %s after the download", v)
	}
	if v := h.value("Device.DeviceInfo.FirmwareImage.2.Version"); v != "4.3.0" {
		t.Errorf("downloaded Version = %q", v)
	}
}
