package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/devices/inventory"
	"cuttle/internal/testutil"
)

// TestBulkGet: a Get over 50 devices ends with 50 ok results, each with
// the values of its own device, and the results page without repeats.
func TestBulkGet(t *testing.T) {
	s := startStack(t, 50)
	s.startFleet(s.eids)
	reg := prometheus.NewRegistry()
	m, _ := s.startManager(Config{Registerer: reg})
	ctx := context.Background()

	j, err := m.Create(ctx, Spec{
		Name:        "read identities",
		Operation:   OpGet,
		Request:     json.RawMessage(`{"paths":["Device.DeviceInfo.SerialNumber","Device.LocalAgent.EndpointID"]}`),
		Selector:    &Selector{},
		Concurrency: 10,
	}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != StatePending || j.Total != 50 || j.Spec.Timeout != Duration(DefaultTimeout) || j.CreatedBy != "tester" {
		t.Errorf("created %+v", j)
	}
	j = await(t, m, j.ID, time.Minute)
	if j.State != StateCompleted || j.Done != 50 || j.Succeeded != 50 || j.Failed != 0 || j.NotReached != 0 || j.Counts[StatusOK] != 50 {
		t.Fatalf("ended %+v", j)
	}
	if j.Started.IsZero() || j.Finished.Before(j.Started) || j.Runner != "" {
		t.Errorf("times or runner wrong: %+v", j)
	}

	inv := s.controller().Inventory()
	seen := map[string]bool{}
	for _, r := range allResults(t, m, j.ID) {
		if seen[r.EndpointID] {
			t.Errorf("%s listed twice", r.EndpointID)
		}
		seen[r.EndpointID] = true
		if r.Status != StatusOK || r.Error != nil {
			t.Errorf("%s: %s %+v", r.EndpointID, r.Status, r.Error)
			continue
		}
		var resp struct {
			Results []struct {
				RequestedPath string `json:"requested_path"`
			} `json:"results"`
			Values map[string]string `json:"values"`
		}
		if err := json.Unmarshal(r.Response, &resp); err != nil {
			t.Fatal(err)
		}
		d, _ := inv.Get(r.EndpointID)
		if resp.Values["Device.LocalAgent.EndpointID"] != r.EndpointID || resp.Values["Device.DeviceInfo.SerialNumber"] != d.SerialNumber ||
			len(resp.Results) != 2 || resp.Results[0].RequestedPath != "Device.DeviceInfo.SerialNumber" {
			t.Errorf("%s answered %s", r.EndpointID, r.Response)
		}
	}
	if len(seen) != 50 {
		t.Errorf("%d devices have results, want 50", len(seen))
	}

	// Pages: 3 of at most 20, then none; a status filter.
	p1, err := m.Results(ctx, j.ID, nil, 20, "")
	if err != nil || len(p1.Results) != 20 || p1.Next == "" {
		t.Fatalf("page 1: %d results, next %q, %v", len(p1.Results), p1.Next, err)
	}
	p2, _ := m.Results(ctx, j.ID, nil, 20, p1.Next)
	p3, _ := m.Results(ctx, j.ID, nil, 20, p2.Next)
	if len(p2.Results) != 20 || len(p3.Results) != 10 || p3.Next != "" || p2.Results[0].EndpointID == p1.Results[19].EndpointID {
		t.Errorf("pages of %d and %d, next %q", len(p2.Results), len(p3.Results), p3.Next)
	}
	if none, _ := m.Results(ctx, j.ID, []string{StatusTimeout}, 20, ""); len(none.Results) != 0 || none.Next != "" {
		t.Errorf("timeouts: %+v", none)
	}
	if _, err := m.Results(ctx, j.ID, []string{"bogus"}, 20, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("bogus status: %v", err)
	}

	list, err := m.List(ctx, ListFilter{State: StateCompleted}, 10, "")
	if err != nil || len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID {
		t.Errorf("list: %+v %v", list, err)
	}
	if _, err := m.Get(ctx, "nosuchjob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a bad ID: %v", err)
	}

	testutil.Eventually(t, 5*time.Second, "the metrics", func() bool {
		return metricValue(t, reg, "cuttle_jobs", "state", StateCompleted) == 1 &&
			metricValue(t, reg, "cuttle_jobs", "state", StateRunning) == 0
	})
	if n := metricValue(t, reg, "cuttle_job_device_results_total", "status", StatusOK); n != 50 {
		t.Errorf("%v ok results counted", n)
	}
	if n := metricValue(t, reg, "cuttle_job_duration_seconds", "state", StateCompleted); n != 1 {
		t.Errorf("%v job durations observed", n)
	}
}

// metricValue returns the value (for a histogram, the count) of the
// series of family name whose label has the given value, or -1.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if h := m.GetHistogram(); h != nil {
						return float64(h.GetSampleCount())
					}
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// TestRetention: finished jobs past the retention are purged with their
// devices and results; running ones are kept.
func TestRetention(t *testing.T) {
	s := startStack(t, 5)
	s.startFleet(s.eids)
	m, _ := s.startManager(Config{USP: newTap(s, 500*time.Millisecond)})
	ctx := context.Background()
	old, err := m.Create(ctx, Spec{Operation: OpSupportedProtocol, Devices: s.eids, Concurrency: 5}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	await(t, m, old.ID, 30*time.Second)
	running, err := m.Create(ctx, Spec{Operation: OpSupportedProtocol, Devices: s.eids, Concurrency: 1}, "tester")
	if err != nil {
		t.Fatal(err)
	}

	sweeper, _ := s.startManager(Config{Retention: time.Millisecond})
	testutil.Eventually(t, 10*time.Second, "the old job purged", func() bool {
		_, err := m.Get(ctx, old.ID)
		return errors.Is(err, ErrNotFound)
	})
	n := 0
	if err := sweeper.store.scanResults(ctx, old.ID, 0, func(uint64, Result) bool { n++; return true }); err != nil || n != 0 {
		t.Errorf("%d results left (%v)", n, err)
	}
	if _, err := sweeper.store.jobs.Get(ctx, old.ID+".devices.0"); err == nil {
		t.Error("the devices are left")
	}
	if j := await(t, m, running.ID, 30*time.Second); j.State != StateCompleted || j.Succeeded != 5 {
		t.Errorf("the running job ended %+v", j)
	}
}

// TestInvalidSetFailsValidation: a Set with one invalid path is refused
// with field errors before anything is stored or sent.
func TestInvalidSetFailsValidation(t *testing.T) {
	s := startStack(t, 3)
	s.startFleet(s.eids)
	tap := newTap(s, 0)
	m, _ := s.startManager(Config{USP: tap})
	ctx := context.Background()
	_, err := m.Create(ctx, Spec{
		Operation: OpSet,
		Request: json.RawMessage(`{"objects":[
			{"path":"Device.DeviceInfo.","params":{"ProvisioningCode":"ok"}},
			{"path":"Device.DeviceInfo..Bad.","params":{"X":"1"}}]}`),
		Devices: s.eids,
	}, "tester")
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want a ValidationError", err)
	}
	if len(ve.Fields) != 1 || ve.Fields[0].Field != "request.objects[1].path" || ve.Fields[0].USPCode != 7026 {
		t.Errorf("fields %+v", ve.Fields)
	}
	list, err := m.List(ctx, ListFilter{}, 0, "")
	if err != nil || len(list.Jobs) != 0 {
		t.Errorf("jobs stored: %+v %v", list.Jobs, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := tap.calls.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}

	// A selector that chooses nothing is invalid too.
	_, err = m.Create(ctx, Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device."]}`),
		Selector: &Selector{Model: "no such model"}}, "tester")
	if !errors.As(err, &ve) || ve.Fields[0].Field != "selector" {
		t.Errorf("empty selector: %v", err)
	}
}

// TestOfflineDevices: devices offline when the job runs are skipped with
// online_only, and reported unreachable without it.
func TestOfflineDevices(t *testing.T) {
	s := startStack(t, 10)
	s.startFleet(s.eids[:7])
	stopGone := s.startFleet(s.eids[7:])
	stopGone()
	s.waitStatus(s.eids[7:], inventory.StatusOffline, 20*time.Second)
	m, _ := s.startManager(Config{})
	ctx := context.Background()
	get := json.RawMessage(`{"paths":["Device.DeviceInfo.SoftwareVersion"]}`)

	for _, tc := range []struct {
		name       string
		onlineOnly bool
		status     string
	}{
		{"online only", true, StatusSkipped},
		{"all", false, StatusUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := m.Create(ctx, Spec{Operation: OpGet, Request: get, Devices: s.eids, OnlineOnly: tc.onlineOnly,
				Timeout: Duration(time.Second)}, "tester")
			if err != nil {
				t.Fatal(err)
			}
			j = await(t, m, j.ID, time.Minute)
			if j.State != StateCompleted || j.Succeeded != 7 || j.NotReached != 3 || j.Counts[tc.status] != 3 {
				t.Errorf("ended %+v", j)
			}
			for _, r := range allResults(t, m, j.ID, tc.status) {
				if r.EndpointID < s.eids[7] || r.Error == nil || r.Error.Message != "not reached: the device is offline" || r.Response != nil {
					t.Errorf("result %+v", r)
				}
			}
		})
	}

	// A job none of whose devices answer has failed.
	j, err := m.Create(ctx, Spec{Operation: OpGet, Request: get, Devices: s.eids[7:], OnlineOnly: true}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if j = await(t, m, j.ID, time.Minute); j.State != StateFailed || j.NotReached != 3 {
		t.Errorf("ended %+v", j)
	}
}

// TestCancel: canceling a running job stops it promptly; the devices done
// keep their results and the rest are recorded as canceled.
func TestCancel(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	s := startStack(t, 20)
	s.startFleet(s.eids)
	tap := newTap(s, 300*time.Millisecond)
	m, _ := s.startManager(Config{USP: tap})
	ctx := context.Background()
	j, err := m.Create(ctx, Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device.DeviceInfo."]}`),
		Devices: s.eids, Concurrency: 1}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "three devices done", func() bool {
		got, _ := m.Get(ctx, j.ID)
		return got.Done >= 3
	})
	start := time.Now()
	j, err = m.Cancel(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); j.State != StateCanceled || took > 2*time.Second {
		t.Fatalf("after %s: %+v", took, j)
	}
	if j.Done != 20 || j.Succeeded < 3 || j.Succeeded > 6 || j.Counts[StatusCanceled] != 20-j.Succeeded || j.NotReached != 20-j.Succeeded {
		t.Errorf("counters %+v", j)
	}
	results := allResults(t, m, j.ID)
	byDevice := map[string]string{}
	for _, r := range results {
		byDevice[r.EndpointID] = r.Status
	}
	if len(results) != 20 || len(byDevice) != 20 {
		t.Errorf("%d results for %d devices", len(results), len(byDevice))
	}
	if canceled := allResults(t, m, j.ID, StatusCanceled); len(canceled) != j.Counts[StatusCanceled] {
		t.Errorf("%d canceled results, counted %d", len(canceled), j.Counts[StatusCanceled])
	}
	// Canceling again is harmless; a finished job cannot be canceled.
	if again, err := m.Cancel(ctx, j.ID); err != nil || again.State != StateCanceled {
		t.Errorf("second cancel: %v", err)
	}
	done, err := m.Create(ctx, Spec{Operation: OpSupportedProtocol, Devices: s.eids[:1]}, "tester")
	if err != nil {
		t.Fatal(err)
	}
	await(t, m, done.ID, 30*time.Second)
	if _, err := m.Cancel(ctx, done.ID); !errors.Is(err, ErrFinished) {
		t.Errorf("cancel of a finished job: %v", err)
	}
}
