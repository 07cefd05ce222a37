package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"cuttle/controller/auth"
)

func testJobs(t *testing.T, e *apiEnv) {
	operator := e.tokens[auth.RoleOperator]
	stdout, stderr, err := e.runAs(operator, "job", "create", "--op", "get", "--paths", "Device.DeviceInfo.SoftwareVersion",
		"--selector", "status=online", "--name", "versions", "--wait", "-o", "json")
	var j jobView
	if err != nil || json.Unmarshal([]byte(stdout), &j) != nil || j.State != "completed" || j.Total != 3 || j.Succeeded != 3 {
		t.Fatalf("job create --wait: %v\n%s\n%s", err, stdout, stderr)
	}
	if out := e.ok("job", "ls", "-o", "id"); !strings.Contains(out, j.ID+"\n") {
		t.Errorf("job ls -o id lacks %s: %q", j.ID, out)
	}
	if out := e.ok("job", "ls"); !regexpMatch(`(?m)^`+j.ID+`\s+versions\s+get\s+completed\s+3/3\s+3\s+0\s+0\s`, out) {
		t.Errorf("job ls:\n%s", out)
	}
	out := e.ok("job", "show", j.ID, "--results")
	for _, want := range []string{"State:", "completed", "3/3 done: 3 ok, 0 failed, 0 not reached", "DEVICE", e.devices[2] + "  ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("job show --results lacks %q:\n%s", want, out)
		}
	}
	var shown struct {
		Job     jobView         `json:"job"`
		Results []jobResultView `json:"results"`
	}
	if err := json.Unmarshal([]byte(e.ok("job", "show", j.ID, "--results", "-o", "json")), &shown); err != nil ||
		!reflect.DeepEqual(shown.Job, j) || len(shown.Results) != 3 || shown.Results[0].Status != "ok" {
		t.Errorf("job show --results -o json: %v %+v", err, shown)
	}
	e.wantExit(exitFailure, "job", "cancel", j.ID) // already ended: a conflict
	e.wantExit(exitNotFound, "job", "show", "00000000000000000")

	// Set on two devices, progress on stderr.
	stdout, stderr, err = e.runAs(operator, "job", "create", "--op", "set", "Device.WiFi.SSID.1.SSID=job", "--required",
		"--devices", e.devices[0]+","+e.devices[1], "--wait")
	if err != nil || !regexpMatch(`(?m)^\S+\s+set\s+completed\s+2\s+2\s+0\s+0$`, stdout) || !strings.Contains(stderr, "completed, 2/2 done") {
		t.Errorf("set job: %v\n%s\n%s", err, stdout, stderr)
	}
	// Failing everywhere: the job fails, exit status 1.
	_, _, err = e.runAs(operator, "job", "create", "--op", "get", "Device.Nope.", "--devices", e.devices[0], "--wait")
	if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "failed") {
		t.Errorf("failing job: %v", err)
	}

	// A device that never answers keeps a job running until canceled.
	id := strings.TrimSpace(e.ok("job", "create", "--op", "get", "Device.", "--devices", "os::012345-GHOST", "--timeout", "1m", "-o", "id"))
	if out := e.ok("job", "cancel", id); !strings.Contains(out, "job "+id+" canceled") && !strings.Contains(out, "cancel requested") {
		t.Errorf("job cancel: %q", out)
	}

	for _, args := range [][]string{
		{"--op", "get"},            // no paths
		{"--op", "get", "Device."}, // no devices
		{"--op", "get", "Device.", "--devices", "a", "--all-devices"}, // two choices
		{"--op", "teleport", "--all-devices"},
		{"--op", "set", "--paths", "Device.", "--all-devices"},
		{"--op", "get", "Device.", "--selector", "status!=online"},
	} {
		e.wantExit(exitUsage, append([]string{"job", "create"}, args...)...)
	}
	e.wantExitAs(e.tokens[auth.RoleViewer], exitUnauthorized, "job", "create", "--op", "get", "Device.", "--all-devices")
}

func TestParseSelector(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{in: "status=online", want: map[string]string{"status": "online"}},
		{in: "status=online, site=north,tier!=gold,!lab, software-version=4.2", want: map[string]string{
			"status": "online", "labels": "site=north,tier!=gold,!lab", "software_version": "4.2"}},
		{in: "q=gw,model=HG4000", want: map[string]string{"q": "gw", "model": "HG4000"}},
		{in: "", err: true},
		{in: "status!=online", err: true},
		{in: "model==x", err: true},
		{in: "model=a,model=b", err: true},
	} {
		got, err := parseSelector(tc.in)
		if tc.err != (err != nil) || !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSelector(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}
