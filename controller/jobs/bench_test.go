package jobs

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"
)

// envInt reads a benchmark knob from the environment.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkBulkGet times a bulk Get of two parameters over a simulated
// fleet, all real: NATS, the broker, the controller and the devices in
// this process. CUTTLE_BENCH_DEVICES sets the fleet's size (default
// 1,000) and CUTTLE_BENCH_CONCURRENCY the job's (default 200). It reports
// devices per second and the time a 10,000-device job would take at that
// rate.
//
//	CUTTLE_BENCH_DEVICES=2000 go test -run '^$' -bench BulkGet -benchtime 3x ./controller/jobs/
func BenchmarkBulkGet(b *testing.B) {
	n := envInt("CUTTLE_BENCH_DEVICES", 1000)
	conc := envInt("CUTTLE_BENCH_CONCURRENCY", 200)
	s := startStack(b, n)
	s.settled = 0.999
	s.startFleet(s.eids)
	m, _ := s.startManager(Config{})
	ctx := context.Background()
	spec := Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device.DeviceInfo.SoftwareVersion","Device.DeviceInfo.UpTime"]}`),
		Selector: &Selector{}, Concurrency: conc}
	var devices int
	var took time.Duration
	for b.Loop() {
		start := time.Now()
		j, err := m.Create(ctx, spec, "bench")
		if err != nil {
			b.Fatal(err)
		}
		j = await(b, m, j.ID, 10*time.Minute)
		took += time.Since(start)
		if j.Succeeded != n {
			b.Fatalf("%d of %d devices ok: %+v", j.Succeeded, n, j.Counts)
		}
		devices += j.Succeeded
	}
	rate := float64(devices) / took.Seconds()
	b.ReportMetric(rate, "devices/s")
	b.ReportMetric(10_000/rate, "s/10k-devices")
	b.ReportMetric(0, "ns/op")
}
