package jobs

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"cuttle/usp"
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
// this process, or the devices in a child process when
// CUTTLE_BENCH_FLEET=process or when they would not fit in this process's
// open files (two per device: over 9,000 devices at the limit of 20,000).
// CUTTLE_BENCH_DEVICES sets the fleet's size (default 1,000) and
// CUTTLE_BENCH_CONCURRENCY the job's (default 200). It reports devices per
// second, the time a 10,000-device job would take at that rate, and the
// CPU time per device of this process and the fleet process together;
// devices/s-min and -max are the slowest and the fastest job's.
//
//	CUTTLE_BENCH_DEVICES=2000 go test -run '^$' -bench BulkGet -benchtime 3x ./controller/jobs/
//	CUTTLE_BENCH_DEVICES=10000 go test -run '^$' -bench BulkGet -benchtime 3x -timeout 15m ./controller/jobs/
func BenchmarkBulkGet(b *testing.B) {
	n := envInt("CUTTLE_BENCH_DEVICES", 1000)
	conc := envInt("CUTTLE_BENCH_CONCURRENCY", 200)
	s := startStack(b, n)
	s.settled = 0.999
	f := s.startBenchFleet()
	m, _ := s.startManager(Config{})
	ctx := context.Background()
	spec := Spec{Operation: OpGet, Request: json.RawMessage(`{"paths":["Device.DeviceInfo.SoftwareVersion","Device.DeviceInfo.UpTime"]}`),
		Selector: &Selector{}, Concurrency: conc}
	var devices int
	var took, cpu time.Duration
	var rates []float64
	for b.Loop() {
		cpu0 := cpuTime(b) + f.cpu(b)
		start := time.Now()
		j, err := m.Create(ctx, spec, "bench")
		if err != nil {
			b.Fatal(err)
		}
		j = await(b, m, j.ID, 10*time.Minute)
		d := time.Since(start)
		took += d
		rates = append(rates, float64(j.Succeeded)/d.Seconds())
		cpu += cpuTime(b) + f.cpu(b) - cpu0
		if j.Succeeded != n {
			b.Fatalf("%d of %d devices ok: %+v", j.Succeeded, n, j.Counts)
		}
		devices += j.Succeeded
	}
	rate := float64(devices) / took.Seconds()
	b.ReportMetric(rate, "devices/s")
	b.ReportMetric(slices.Min(rates), "devices/s-min")
	b.ReportMetric(slices.Max(rates), "devices/s-max")
	b.ReportMetric(10_000/rate, "s/10k-devices")
	b.ReportMetric(float64(cpu.Microseconds())/float64(devices), "cpu-µs/device")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkGetThroughput sends USP Gets of two parameters from the
// controller's MQTT client to a simulated fleet, round robin over the
// devices, CUTTLE_BENCH_CONCURRENCY (default 200) at a time, with the same
// stack as BenchmarkBulkGet but no job around the requests: the rate the
// issue's target of 5,000 requests/s is about. Each iteration is a round
// of CUTTLE_BENCH_REQUESTS requests (default 10,000). Besides req/s (all
// rounds, and the slowest and fastest round) it reports cpu-µs/req, the
// CPU time (user and system) of the whole process per request: the
// controller, the broker and the devices together, which must share the
// machine's two cores. CPU time is less disturbed than req/s by other
// work on a shared machine; 5,000 req/s on two cores needs less than
// 400 µs. B/req and allocs/req are the process's heap allocations per
// request, which set how often the garbage collector runs. The fleet
// runs where BenchmarkBulkGet's does; in a fleet process, cpu-µs/req
// counts both processes, B/req and allocs/req this one only (no devices).
//
//	go test -run '^$' -bench GetThroughput -benchtime 3x ./controller/jobs/
func BenchmarkGetThroughput(b *testing.B) {
	n := envInt("CUTTLE_BENCH_DEVICES", 1000)
	conc := envInt("CUTTLE_BENCH_CONCURRENCY", 200)
	reqs := envInt("CUTTLE_BENCH_REQUESTS", 10_000)
	s := startStack(b, n)
	s.settled = 0.999
	f := s.startBenchFleet()
	mtp := s.controller().MTP()
	get := usp.NewGet(0, "Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.UpTime")
	ctx := context.Background()

	var took, cpu time.Duration
	var rates []float64
	var mallocs, allocBytes uint64
	for b.Loop() {
		var next, failed atomic.Int64
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start, cpu0 := time.Now(), cpuTime(b)+f.cpu(b)
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < reqs; i = int(next.Add(1) - 1) {
					r, err := mtp.Get(ctx, s.eids[i%n], get)
					if err != nil || len(r.Results) != 2 {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		took, cpu = took+d, cpu+cpuTime(b)+f.cpu(b)-cpu0
		runtime.ReadMemStats(&m1)
		mallocs, allocBytes = mallocs+m1.Mallocs-m0.Mallocs, allocBytes+m1.TotalAlloc-m0.TotalAlloc
		rates = append(rates, float64(reqs)/d.Seconds())
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d of %d requests failed", f, reqs)
		}
	}
	total := float64(reqs * len(rates))
	b.ReportMetric(total/took.Seconds(), "req/s")
	b.ReportMetric(slices.Min(rates), "req/s-min")
	b.ReportMetric(slices.Max(rates), "req/s-max")
	b.ReportMetric(float64(cpu.Microseconds())/total, "cpu-µs/req")
	b.ReportMetric(float64(allocBytes)/total, "B/req")
	b.ReportMetric(float64(mallocs)/total, "allocs/req")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
