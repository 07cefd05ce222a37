package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"cuttle/controller/auth"
	"cuttle/devices/inventory"
)

// TestAPICommands runs the API commands in-process against the real API,
// one stack for all of them to keep the run short.
func TestAPICommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	e := newAPIEnv(t, 3)
	t.Run("device ls", func(t *testing.T) { testDeviceList(t, e) })
	t.Run("device show and label", func(t *testing.T) { testDeviceShowLabel(t, e) })
	t.Run("device get", func(t *testing.T) { testDeviceGet(t, e) })
	t.Run("device set", func(t *testing.T) { testDeviceSet(t, e) })
	t.Run("device add, instances, delete", func(t *testing.T) { testDeviceObjects(t, e) })
	t.Run("device operate and events", func(t *testing.T) { testOperateEvents(t, e) })
	t.Run("events follow", func(t *testing.T) { testEventsFollow(t, e) })
	t.Run("exit statuses", func(t *testing.T) { testExitStatuses(t, e) })
	t.Run("connection discovery", func(t *testing.T) { testDiscovery(t, e) })
	t.Run("token", func(t *testing.T) { testTokens(t, e) })
	t.Run("job", func(t *testing.T) { testJobs(t, e) })
	t.Run("completion of IDs", func(t *testing.T) { testRemoteCompletion(t, e) })
	t.Run("offline device", func(t *testing.T) { testOfflineDevice(t, e) }) // last: takes a device away
}

// devicePage is a page of GET /api/v1/devices, its devices kept raw.
type devicePage struct {
	Devices []json.RawMessage `json:"devices"`
	Next    string            `json:"next"`
	Total   int               `json:"total"`
}

// apiPages returns, and forgets, the pages of the device list the API
// sent since the last call.
func (e *apiEnv) apiPages() []devicePage {
	e.t.Helper()
	var pages []devicePage
	for _, b := range e.http.take("GET /api/v1/devices") {
		var p devicePage
		if err := json.Unmarshal(b, &p); err != nil {
			e.t.Fatal(err)
		}
		pages = append(pages, p)
	}
	return pages
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return buf.String()
}

func testDeviceList(t *testing.T, e *apiEnv) {
	out := e.ok("device", "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ENDPOINT ID") || !strings.Contains(lines[0], "LAST SEEN") {
		t.Fatalf("table:\n%s", out)
	}
	for i, eid := range e.devices {
		if f := strings.Fields(lines[i+1]); f[0] != eid || f[1] != "online" {
			t.Errorf("row %d: %q, want %s online", i+1, lines[i+1], eid)
		}
	}
	e.apiPages()

	// The contract: a JSON array of the API's device objects, unchanged.
	out = e.ok("device", "ls", "-o", "json")
	pages := e.apiPages()
	if len(pages) != 1 {
		t.Fatalf("%d pages fetched", len(pages))
	}
	if got, want := compactJSON(t, []byte(out)), compactJSON(t, jsonArray(pages[0].Devices)); got != want {
		t.Fatalf("device ls -o json printed\n%s\nthe API sent\n%s", got, want)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 {
		t.Fatalf("not an array of 3: %v\n%s", err, out)
	}
	for _, d := range list {
		for _, k := range []string{"endpoint_id", "status", "last_seen", "manufacturer", "model", "software_version", "labels"} {
			if _, ok := d[k]; !ok {
				t.Errorf("device lacks %q: %v", k, d)
			}
		}
		if d["status"] != "online" {
			t.Errorf("status %v", d["status"])
		}
	}

	// Every page, followed by cursor, makes the same array.
	c, stdout, stderr := e.cli(e.tokens[auth.RoleViewer], nil)
	c.pageSize = 1
	if err := c.dispatch(t.Context(), "device", []string{"ls", "--all", "-o", "json"}); err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	if pages := e.apiPages(); len(pages) != 3 {
		t.Errorf("--all with pages of 1 fetched %d pages, want 3", len(pages))
	}
	if got, want := compactJSON(t, stdout.Bytes()), compactJSON(t, []byte(out)); got != want {
		t.Errorf("paged --all printed\n%s\nwant\n%s", got, want)
	}

	var fromYAML []map[string]any
	if err := yaml.Unmarshal([]byte(e.ok("device", "ls", "-o", "yaml")), &fromYAML); err != nil || len(fromYAML) != 3 ||
		fromYAML[0]["endpoint_id"] != e.devices[0] || fromYAML[0]["status"] != "online" {
		t.Errorf("yaml: %v %v", err, fromYAML)
	}

	_, errOut, err := e.run("device", "ls", "--limit", "2")
	if err != nil || !strings.Contains(errOut, "Showing 2 of 3 devices") {
		t.Errorf("--limit 2: %v, stderr %q", err, errOut)
	}
	if out := e.ok("device", "ls", "--status", "offline", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("no offline devices: %q, want []", out)
	}
	backwards := slices.Clone(e.devices)
	slices.Reverse(backwards)
	if out := e.ok("device", "ls", "--sort", "-endpoint_id", "-o", "id"); out != strings.Join(backwards, "\n")+"\n" {
		t.Errorf("-o id sorted backwards: %q", out)
	}
	e.apiPages()
}

func testDeviceShowLabel(t *testing.T, e *apiEnv) {
	dev := e.devices[0]
	out := e.ok("device", "show", dev)
	for _, want := range []string{"Endpoint ID:", dev, "Status:", "online since", "Model:", "Serial number:"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(e.ok("device", "show", dev, "-o", "json")), &d); err != nil || d["endpoint_id"] != dev {
		t.Errorf("show -o json: %v %v", err, d)
	}

	out = e.ok("device", "label", dev, "site=north", "tier=gold")
	if !strings.Contains(out, "site=north,tier=gold") {
		t.Errorf("label output:\n%s", out)
	}
	if out := e.ok("device", "ls", "--labels", "site=north", "-o", "id"); out != dev+"\n" {
		t.Errorf("ls --labels site=north: %q", out)
	}
	if err := json.Unmarshal([]byte(e.ok("device", "label", dev, "tier-", "-o", "json")), &d); err != nil ||
		!reflect.DeepEqual(d["labels"], map[string]any{"site": "north"}) {
		t.Errorf("after tier-: %v %v", err, d["labels"])
	}
	if out := e.ok("device", "ls", "-o", "id", "--labels", "!site"); strings.Contains(out, dev) || strings.Count(out, "\n") != 2 {
		t.Errorf("ls --labels !site: %q", out)
	}
	e.wantExit(exitUsage, "device", "label", dev, "nonsense")
	e.wantExit(exitUsage, "device", "label", dev, "a=1", "a-")
	e.wantExitAs(e.tokens[auth.RoleViewer], exitUnauthorized, "device", "label", dev, "a=1")
}

func testDeviceGet(t *testing.T, e *apiEnv) {
	dev := e.devices[0]
	out := e.ok("device", "get", dev, "Device.DeviceInfo.", "-o", "json")
	sent := e.http.take("POST /api/v1/devices/" + dev + "/get")
	if len(sent) != 1 || compactJSON(t, []byte(out)) != compactJSON(t, sent[0]) {
		t.Fatalf("get -o json printed\n%s\nthe API sent\n%s", out, sent)
	}
	var res struct {
		Values map[string]string `json:"values"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	d, _ := e.ctl.Inventory().Get(dev)
	if res.Values["Device.DeviceInfo.SerialNumber"] != d.SerialNumber || res.Values["Device.DeviceInfo.ModelName"] != d.Model || len(res.Values) < 5 {
		t.Errorf("values by full path: %v", res.Values)
	}

	out = e.ok("device", "get", dev, "Device.DeviceInfo.SerialNumber", "Device.DeviceInfo.ModelName")
	want := "PATH                            VALUE\n" +
		"Device.DeviceInfo.ModelName     " + d.Model + "\n" +
		"Device.DeviceInfo.SerialNumber  " + d.SerialNumber + "\n"
	if out != want {
		t.Errorf("get table:\n%s\nwant\n%s", out, want)
	}

	// A path that fails: the rest is printed, the failure named on
	// stderr with its code, and the exit status is 1.
	stdout, stderr, err := e.run("device", "get", dev, "Device.DeviceInfo.SerialNumber", "Device.Nope.")
	if exitCode(err) != exitFailure || !strings.Contains(stdout, d.SerialNumber) ||
		!strings.Contains(stderr, "Device.Nope.: 7026 InvalidPath") {
		t.Errorf("partial get: %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	msg, _ := e.wantExit(exitUsage, "device", "get", dev, "Device..X")
	if !strings.Contains(msg, "paths[0]") || !strings.Contains(msg, "USP 7026") {
		t.Errorf("invalid path error: %s", msg)
	}
	e.wantExit(exitUsage, "device", "get", dev, "Device.", "--max-depth", "-1")
}

func testDeviceSet(t *testing.T, e *apiEnv) {
	dev := e.devices[1]
	out := e.ok("device", "set", dev, "Device.WiFi.SSID.1.SSID=cli-test", "--required")
	if !strings.Contains(out, "Device.WiFi.SSID.1.SSID  cli-test") {
		t.Errorf("set table:\n%s", out)
	}
	if out := e.ok("device", "get", dev, "Device.WiFi.SSID.1.SSID", "-o", "yaml"); !strings.Contains(out, "Device.WiFi.SSID.1.SSID: cli-test") {
		t.Errorf("after set, get says:\n%s", out)
	}

	// A parameter that fails, not required: the others are set.
	stdout, stderr, err := e.run("device", "set", dev, "Device.WiFi.SSID.1.SSID=cli-2", "Device.WiFi.SSID.1.NoSuchParam=1")
	if exitCode(err) != exitFailure || !strings.Contains(stdout, "cli-2") || !strings.Contains(stderr, "Device.WiFi.SSID.1.NoSuchParam: 7010") {
		t.Errorf("partial set: %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	// Required and refused: the device's USP error, with its parameter.
	msg, _ := e.wantExit(exitFailure, "device", "set", dev, "Device.DeviceInfo.SerialNumber=x", "--required")
	if !strings.Contains(msg, "USP error") || !strings.Contains(msg, "Device.DeviceInfo.SerialNumber: 7013 ParamReadOnly") {
		t.Errorf("refused set: %s", msg)
	}
	e.wantExit(exitUsage, "device", "set", dev, "Device.WiFi.SSID.1.SSID")
	e.wantExit(exitUsage, "device", "set", dev, "Device.WiFi.SSID.1.=x")
	e.wantExitAs(e.tokens[auth.RoleViewer], exitUnauthorized, "device", "set", dev, "Device.WiFi.SSID.1.SSID=v")
}

func testDeviceObjects(t *testing.T, e *apiEnv) {
	dev := e.devices[1]
	out := e.ok("device", "add", dev, "Device.LocalAgent.Subscription.", "ID=cli-sub", "NotifType=ValueChange",
		"ReferenceList=Device.WiFi.SSID.1.SSID", "Enable=true")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "Device.LocalAgent.Subscription.") || !strings.Contains(lines[1], "ID=cli-sub") {
		t.Fatalf("add:\n%s", out)
	}
	created := strings.Fields(lines[1])[0]
	if out := e.ok("device", "instances", dev, "Device.LocalAgent.Subscription."); !strings.Contains(out, created+"  ") {
		t.Errorf("instances lack %s:\n%s", created, out)
	}
	if out := e.ok("device", "delete", dev, created); out != "DELETED\n"+created+"\n" {
		t.Errorf("delete:\n%s", out)
	}
	// -o json is the API's result alone, not after the one-column table.
	e.ok("device", "add", dev, "Device.LocalAgent.Subscription.", "ID=cli-sub-json", "NotifType=ValueChange",
		"ReferenceList=Device.WiFi.SSID.1.SSID")
	e.http.take("POST /api/v1/devices/" + dev + "/delete")
	out = e.ok("device", "delete", dev, `Device.LocalAgent.Subscription.[ID=="cli-sub-json"].`, "-o", "json")
	sent := e.http.take("POST /api/v1/devices/" + dev + "/delete")
	if len(sent) != 1 || compactJSON(t, []byte(out)) != compactJSON(t, sent[0]) || !strings.Contains(out, "Device.LocalAgent.Subscription.") {
		t.Errorf("delete -o json:\n%s", out)
	}
	_, stderr, err := e.run("device", "add", dev, "Device.DeviceInfo.")
	if exitCode(err) != exitFailure || !strings.Contains(stderr+err.Error(), "7018") {
		t.Errorf("add to a non-table: %v %s", err, stderr)
	}

	out = e.ok("device", "supported-dm", dev, "Device.WiFi.SSID.{i}.", "--params", "--first-level")
	if !regexpMatch(`Device\.WiFi\.SSID\.\{i\}\.\s+table\s+add_delete`, out) || !regexpMatch(`Device\.WiFi\.SSID\.\{i\}\.SSID\s+param\s+read_write\s+string`, out) {
		t.Errorf("supported-dm:\n%s", out)
	}
}

func testOfflineDevice(t *testing.T, e *apiEnv) {
	dev := e.devices[2]
	if err := e.creds.Remove(t.Context(), dev); err != nil {
		t.Fatal(err)
	}
	e.waitDevice(dev, "offline", func(d inventory.Device) bool { return d.Status == inventory.StatusOffline })
	if out := e.ok("device", "ls", "--status", "offline", "-o", "id"); out != dev+"\n" {
		t.Errorf("offline devices: %q", out)
	}
	msg, _ := e.wantExit(exitFailure, "device", "get", dev, "Device.DeviceInfo.")
	if !strings.Contains(msg, "cannot be reached") {
		t.Errorf("offline device: %s", msg)
	}
	out := e.ok("device", "rm", dev)
	if out != "removed "+dev+"\n" {
		t.Errorf("rm: %q", out)
	}
	e.wantExit(exitNotFound, "device", "show", dev)
}
