package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"cuttle/controller/auth"
)

type operateResp struct {
	CommandKey string `json:"command_key"`
	Results    []struct {
		Command     string            `json:"command"`
		Status      string            `json:"status"`
		RequestPath string            `json:"request_path"`
		Output      map[string]string `json:"output"`
		Error       *uspErr           `json:"error"`
		Completion  *struct {
			EventID uint64    `json:"event_id"`
			Time    time.Time `json:"time"`
		} `json:"completion"`
	} `json:"results"`
}

func TestOperate(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2}})
	operator := e.tokens[auth.RoleOperator]
	const download = "Device.DeviceInfo.FirmwareImage.2.Download()"
	operate := func(t *testing.T, eid string, body map[string]any) operateResp {
		t.Helper()
		var got operateResp
		e.call(request{method: "POST", path: devicePath(eid, "operate"), token: operator, body: body}, http.StatusOK, &got)
		if len(got.Results) != 1 {
			t.Fatalf("results %+v", got.Results)
		}
		return got
	}

	t.Run("async, waited for", func(t *testing.T) {
		start := time.Now()
		got := operate(t, dev1, map[string]any{"command": download, "wait": true,
			"input_args": map[string]string{"URL": "https://firmware.example/cl-hg4000-4.3.0.bin", "AutoActivate": "false"}})
		res := got.Results[0]
		if !strings.HasPrefix(got.CommandKey, "cuttle-") {
			t.Errorf("command_key %q, want a generated one", got.CommandKey)
		}
		if res.Command != download || res.Status != "completed" || res.Error != nil || res.Output == nil ||
			!strings.HasPrefix(res.RequestPath, "Device.LocalAgent.Request.") || res.Completion == nil || res.Completion.EventID == 0 {
			t.Fatalf("download: %+v", res)
		}
		if took := time.Since(start); took < time.Second {
			t.Errorf("answered after %s, before the 1 s download could end", took)
		}
		var check getResp
		e.call(request{method: "POST", path: devicePath(dev1, "get"), body: map[string]any{"paths": []string{"Device.DeviceInfo.FirmwareImage.2.Version"}}}, http.StatusOK, &check)
		if v := check.Values["Device.DeviceInfo.FirmwareImage.2.Version"]; v != "4.3.0" {
			t.Errorf("image 2 holds version %q after the download, want 4.3.0", v)
		}
	})

	t.Run("async, failing", func(t *testing.T) {
		got := operate(t, dev1, map[string]any{"command": download, "command_key": "bad-url", "wait": true, "timeout": 20,
			"input_args": map[string]string{"URL": "https://firmware.example/fail.bin", "AutoActivate": "false"}})
		res := got.Results[0]
		if got.CommandKey != "bad-url" || res.Status != "failed" || res.Error == nil || res.Error.Code != 7022 || res.Completion == nil {
			t.Errorf("failing download: %+v", res)
		}
	})

	t.Run("async, not waited for", func(t *testing.T) {
		got := operate(t, dev1, map[string]any{"command": download, "command_key": "bg",
			"input_args": map[string]string{"URL": "https://firmware.example/cl-hg4000-4.3.1.bin", "AutoActivate": "false"}})
		res := got.Results[0]
		if res.Status != "started" || !strings.HasPrefix(res.RequestPath, "Device.LocalAgent.Request.") || res.Output != nil || res.Completion != nil {
			t.Errorf("background download: %+v", res)
		}
		// The image is busy meanwhile: a command failure, not an Error.
		got = operate(t, dev1, map[string]any{"command": download, "wait": true,
			"input_args": map[string]string{"URL": "https://firmware.example/cl-hg4000-4.3.2.bin", "AutoActivate": "false"}})
		if res := got.Results[0]; res.Status != "failed" || res.Error == nil || res.Error.Code != 7005 {
			t.Errorf("second download: %+v, want 7005", res)
		}
	})

	t.Run("async, wait times out", func(t *testing.T) {
		got := operate(t, dev2, map[string]any{"command": download, "wait": true, "timeout": "200ms",
			"input_args": map[string]string{"URL": "https://firmware.example/cl-hg4000-4.3.0.bin", "AutoActivate": "false"}})
		if res := got.Results[0]; res.Status != "pending" || res.RequestPath == "" || res.Completion != nil || res.Output != nil {
			t.Errorf("timed-out wait: %+v (error %+v)", res, res.Error)
		}
	})

	t.Run("command failure", func(t *testing.T) {
		got := operate(t, dev2, map[string]any{"command": "Device.DeviceInfo.FirmwareImage.1.Download()", "wait": true,
			"input_args": map[string]string{"URL": "not a url", "AutoActivate": "false"}})
		if res := got.Results[0]; res.Status != "failed" || res.Error == nil || res.Error.Code != 7027 || res.Error.Name != "InvalidCommandArguments" {
			t.Errorf("bad URL: %+v, want 7027", res)
		}
	})

	t.Run("USP error", func(t *testing.T) {
		r := e.do(request{method: "POST", path: devicePath(dev2, "operate"), token: operator, body: map[string]any{"command": "Device.NoSuchCommand()"}})
		if p := wantProblem(t, r, http.StatusUnprocessableEntity, "usp-error"); p.USPCode != 7026 {
			t.Errorf("usp_code %d, want 7026: %s", p.USPCode, r.body)
		}
	})

	t.Run("bad timeout", func(t *testing.T) {
		for _, timeout := range []any{"soon", "-1s", "11m", true} {
			r := e.do(request{method: "POST", path: devicePath(dev2, "operate"), token: operator,
				body: map[string]any{"command": "Device.Reboot()", "wait": true, "timeout": timeout}})
			if p := wantProblem(t, r, http.StatusBadRequest, "invalid-request"); len(p.Errors) != 1 || p.Errors[0].Field != "timeout" {
				t.Errorf("timeout %v: %s", timeout, r.body)
			}
		}
	})

	t.Run("sync (reboot, last: it ends running commands)", func(t *testing.T) {
		got := operate(t, dev1, map[string]any{"command": "Device.Reboot()", "command_key": "reboot-1"})
		res := got.Results[0]
		if got.CommandKey != "reboot-1" || res.Command != "Device.Reboot()" || res.Status != "completed" ||
			res.Output == nil || res.Error != nil || res.RequestPath != "" {
			t.Errorf("reboot: %+v", got)
		}
	})
}
