package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/internal/testutil"
)

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

func testOperateEvents(t *testing.T, e *apiEnv) {
	dev := e.devices[0]
	const download = "Device.DeviceInfo.FirmwareImage.2.Download()"
	out := e.ok("device", "operate", dev, download, "URL=https://firmware.example/cl-hg4000-4.3.0.bin", "AutoActivate=false",
		"--wait", "--timeout", "30s", "--key", "cli-dl")
	if !regexpMatch(`(?m)^Device\.DeviceInfo\.FirmwareImage\.2\.Download\(\)\s+completed\s+Device\.LocalAgent\.Request\.\d+\.`, out) {
		t.Errorf("operate --wait:\n%s", out)
	}

	// A command that fails, waited for: its error, exit status 1.
	_, stderr, err := e.run("device", "operate", dev, "Device.DeviceInfo.FirmwareImage.1.Download()", "URL=not a url", "AutoActivate=false", "--wait")
	if exitCode(err) != exitFailure || !strings.Contains(stderr, "7027 InvalidCommandArguments") {
		t.Errorf("failing command: %v, stderr %q", err, stderr)
	}
	// Still running when the wait ends: a failure that says how to follow.
	stdout, stderr, err := e.run("device", "operate", e.devices[1], download, "URL=https://firmware.example/cl-hg4000-4.3.1.bin",
		"AutoActivate=false", "--wait", "--timeout", "100ms", "-o", "json")
	var res operateResponse
	if exitCode(err) != exitFailure || !strings.Contains(stderr, "still running") || json.Unmarshal([]byte(stdout), &res) != nil ||
		len(res.Results) != 1 || res.Results[0].Status != "pending" {
		t.Errorf("pending command: %v\nstdout %s\nstderr %s", err, stdout, stderr)
	}
	msg, _ := e.wantExit(exitFailure, "device", "operate", dev, "Device.NoSuchCommand()")
	if !strings.Contains(msg, "7026") {
		t.Errorf("unknown command: %s", msg)
	}
	e.wantExit(exitUsage, "device", "operate", dev, "Device.Reboot()", "--timeout", "5s")

	// The OperationComplete is in the event log.
	out = e.ok("events", "--device", dev, "--type", "operation_complete")
	if !regexpMatch(`(?m)^\d+\s+\S+\s+`+regexp.QuoteMeta(dev)+`\s+operation_complete\s`, out) {
		t.Errorf("events table:\n%s", out)
	}
	var list []eventView
	if err := json.Unmarshal([]byte(e.ok("events", "--device", dev, "--type", "operation_complete,boot", "--limit", "5", "-o", "json")), &list); err != nil || len(list) == 0 {
		t.Fatalf("events -o json: %v %v", err, list)
	}
	for _, ev := range list {
		if ev.EndpointID != dev || ev.Type != "operation_complete" && ev.Type != "boot" {
			t.Errorf("event %+v", ev)
		}
	}
	// --follow --since replays it from the stream; --limit 1 ends there.
	out = e.ok("events", "--device", dev, "--type", "operation_complete", "--since", "10m", "--follow", "--limit", "1", "-o", "json")
	var first eventView
	i := slices.IndexFunc(list, func(ev eventView) bool { return ev.Type == "operation_complete" })
	if err := json.Unmarshal([]byte(out), &first); err != nil || i < 0 || !reflect.DeepEqual(first, list[i]) {
		t.Errorf("followed from --since: %v %q, want the first of %+v", err, out, list)
	}
	// --follow --from-start replays the whole log, oldest first.
	out = e.ok("events", "--device", dev, "--follow", "--from-start", "--limit", "1", "-o", "json")
	var oldest []eventView
	if err := json.Unmarshal([]byte(e.ok("events", "--device", dev, "--limit", "1", "-o", "json")), &oldest); err != nil || len(oldest) != 1 {
		t.Fatalf("events --limit 1: %v %v", err, oldest)
	}
	var replayed eventView
	if err := json.Unmarshal([]byte(out), &replayed); err != nil || !reflect.DeepEqual(replayed, oldest[0]) {
		t.Errorf("followed from the start: %v %q, want %+v", err, out, oldest[0])
	}
	e.wantExit(exitUsage, "events", "--from-start")
	e.wantExit(exitUsage, "events", "--follow", "--from-start", "--since", "10m")
	e.wantExit(exitUsage, "events", "--type", "bad type!")
	e.wantExit(exitUsage, "events", "--since", "yesterday")
}

// testEventsFollow follows new events live, and ends on Ctrl-C (the
// context's end) with success.
func testEventsFollow(t *testing.T, e *apiEnv) {
	dev := e.devices[0]
	e.ok("device", "add", dev, "Device.LocalAgent.Subscription.", "ID=cli-follow", "NotifType=ValueChange",
		"ReferenceList=Device.WiFi.SSID.1.SSID", "Enable=true")
	c, _, stderr := e.cli(e.tokens["viewer"], nil)
	var out testutil.Buffer
	c.stdout = &out
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- c.dispatch(ctx, "events", []string{"--follow", "--device", dev, "--type", "value_change"})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; !strings.Contains(out.String(), "value_change"); i++ {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no event followed; stderr %s", stderr)
		}
		e.ok("device", "set", dev, fmt.Sprintf("Device.WiFi.SSID.1.SSID=follow-%d", i))
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow ended with %v, want success", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after Ctrl-C")
	}
	line := strings.Split(out.String(), "\n")[0]
	if !regexpMatch(`^\S+  `+regexp.QuoteMeta(dev)+`  value_change  Device\.WiFi\.SSID\.1\.SSID  `, line) {
		t.Errorf("followed line %q", line)
	}
}

func TestReadSSE(t *testing.T) {
	stream := ": comment\nretry: 2500\n\nid: 7\nevent: value_change\ndata: {\"a\":1}\n\n" +
		"data: line 1\r\ndata:line 2\r\n\r\nid: 8\ndata: partial"
	var got []sseEvent
	err := readSSE(strings.NewReader(stream), func(ev sseEvent) error { got = append(got, ev); return nil })
	want := []sseEvent{
		{id: "7", event: "value_change", data: `{"a":1}`, retry: 2500 * time.Millisecond},
		{id: "7", data: "line 1\nline 2", retry: 2500 * time.Millisecond},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("readSSE: %v\n got %+v\nwant %+v", err, got, want)
	}
	long := "data: " + strings.Repeat("x", maxSSELine) + "\n\n"
	if err := readSSE(strings.NewReader(long), func(sseEvent) error { return nil }); err == nil {
		t.Error("a line over the limit was accepted")
	}
}

func FuzzReadSSE(f *testing.F) {
	f.Add("id: 1\nevent: x\ndata: {}\n\n")
	f.Add(": hi\nretry: 10\n\ndata: a\r\ndata: b\n\n")
	f.Add("data:\n\n")      // an event with empty data is still an event
	f.Add("data\ndata\n\n") // data "\n"
	f.Fuzz(func(t *testing.T, s string) {
		_ = readSSE(io.MultiReader(strings.NewReader(s)), func(ev sseEvent) error {
			if strings.ContainsAny(ev.id, "\r\n\x00") || strings.ContainsAny(ev.event, "\r\n") {
				t.Fatalf("bad event %+v from %q", ev, s)
			}
			return nil
		})
	})
}

// TestFollowReconnects checks that a broken stream is opened again after
// the last event printed.
func TestFollowReconnects(t *testing.T) {
	var mu sync.Mutex // guards afters
	var afters []string
	srv := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		afters = append(afters, r.URL.Query().Get("after"))
		n := len(afters)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "retry: 10\n\nid: %d\nevent: boot\ndata: {\"id\":%d,\"endpoint_id\":\"d\",\"type\":\"boot\"}\n\n", n, n)
	})
	c, stdout, stderr := fakeCLI(srv.URL)
	err := c.dispatch(t.Context(), "events", []string{"--follow", "--limit", "3", "-o", "json"})
	mu.Lock()
	defer mu.Unlock()
	if err != nil || strings.Count(stdout.String(), "\n") != 3 || !reflect.DeepEqual(afters, []string{"", "1", "2"}) {
		t.Errorf("err %v, afters %q\nstdout %s\nstderr %s", err, afters, stdout, stderr)
	}
	if !strings.Contains(stderr.String(), "reconnecting") {
		t.Errorf("stderr %q", stderr)
	}
}
