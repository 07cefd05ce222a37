package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cuttle/simulator/profile"
)

// TestOperateWaitsForCompletion runs firmware downloads, which the
// simulated devices carry out asynchronously and report with
// OperationComplete, and checks that the job waits for them: completed
// downloads are ok, failed ones usp_error, and those that outlast the
// job's completion timeout are timeouts with their command pending.
func TestOperateWaitsForCompletion(t *testing.T) {
	s := startStack(t, 6)
	p, err := profile.Builtin(profile.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	p.DownloadSeconds = 1
	s.profile = p
	s.startFleet(s.eids)
	m, _ := s.startManager(Config{Completions: s.controller().Events()})
	ctx := context.Background()
	const download = "Device.DeviceInfo.FirmwareImage.2.Download()"

	run := func(t *testing.T, devices []string, request string) (Job, []Result) {
		t.Helper()
		j, err := m.Create(ctx, Spec{Operation: OpOperate, Request: json.RawMessage(request), Devices: devices}, "tester")
		if err != nil {
			t.Fatal(err)
		}
		j = await(t, m, j.ID, time.Minute)
		return j, allResults(t, m, j.ID)
	}
	type commandResult struct {
		Command    string            `json:"command"`
		Status     string            `json:"status"`
		Output     map[string]string `json:"output"`
		Error      *USPError         `json:"error"`
		Completion *struct {
			EventID uint64 `json:"event_id"`
		} `json:"completion"`
	}
	commands := func(t *testing.T, r Result) (key string, out []commandResult) {
		t.Helper()
		var resp struct {
			CommandKey string          `json:"command_key"`
			Results    []commandResult `json:"results"`
		}
		if err := json.Unmarshal(r.Response, &resp); err != nil || len(resp.Results) != 1 {
			t.Fatalf("%s: response %s (%v)", r.EndpointID, r.Response, err)
		}
		return resp.CommandKey, resp.Results
	}

	t.Run("completed", func(t *testing.T) {
		j, results := run(t, s.eids[:3], fmt.Sprintf(`{"command":%q,"input_args":{"URL":"https://fw.example.com/4.3.0.bin","AutoActivate":"false"}}`, download))
		if j.State != StateCompleted || j.Succeeded != 3 {
			t.Fatalf("job %+v", j)
		}
		for _, r := range results {
			key, cmds := commands(t, r)
			if r.Status != StatusOK || key != "cuttle-job-"+j.ID || cmds[0].Status != "completed" || cmds[0].Command != download ||
				cmds[0].Completion == nil || cmds[0].Completion.EventID == 0 || cmds[0].Output == nil {
				t.Errorf("%s: %s %s", r.EndpointID, r.Status, r.Response)
			}
			// The job ended after the device said it was done, not when it
			// said it had started.
			if r.Finished.Sub(r.Started) < 500*time.Millisecond {
				t.Errorf("%s: finished %s after it started, before the download could end", r.EndpointID, r.Finished.Sub(r.Started))
			}
		}
	})

	t.Run("failed", func(t *testing.T) {
		j, results := run(t, s.eids[3:5], fmt.Sprintf(`{"command":%q,"command_key":"doomed","input_args":{"URL":"https://fw.example.com/fail.bin","AutoActivate":"false"}}`, download))
		if j.State != StateFailed || j.Failed != 2 {
			t.Fatalf("job %+v", j)
		}
		for _, r := range results {
			key, cmds := commands(t, r)
			if r.Status != StatusUSPError || r.Error == nil || r.Error.Code == 0 || r.Error.Path != download ||
				key != "doomed" || cmds[0].Status != "failed" || cmds[0].Error == nil || cmds[0].Completion == nil {
				t.Errorf("%s: %s %+v %s", r.EndpointID, r.Status, r.Error, r.Response)
			}
		}
	})

	t.Run("pending when the wait times out", func(t *testing.T) {
		j, results := run(t, s.eids[5:], fmt.Sprintf(`{"command":%q,"completion_timeout":"100ms","input_args":{"URL":"https://fw.example.com/4.3.0.bin","AutoActivate":"false"}}`, download))
		if j.State != StateFailed || j.NotReached != 1 || j.Counts[StatusTimeout] != 1 {
			t.Fatalf("job %+v", j)
		}
		r := results[0]
		_, cmds := commands(t, r)
		if r.Status != StatusTimeout || r.Error == nil || cmds[0].Status != "pending" || cmds[0].Completion != nil {
			t.Errorf("%s: %s %+v %s", r.EndpointID, r.Status, r.Error, r.Response)
		}
	})

	t.Run("invalid completion timeout", func(t *testing.T) {
		_, err := m.Create(ctx, Spec{Operation: OpOperate, Devices: s.eids[:1],
			Request: json.RawMessage(fmt.Sprintf(`{"command":%q,"completion_timeout":"48h"}`, download))}, "tester")
		if err == nil {
			t.Fatal("a 48 h completion timeout was accepted")
		}
	})
}
