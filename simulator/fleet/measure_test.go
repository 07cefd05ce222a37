package fleet

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/sync/errgroup"

	"cuttle/broker/creds"
	"cuttle/simulator/agent"
	"cuttle/simulator/profile"
	"cuttle/usp"
)

// Environment of the scale measurement. It is not part of `go test`: run
//
//	CUTTLE_SIM_MEASURE=1000 go test -run TestMeasureScale -v -timeout 20m ./simulator/fleet/
//
// The broker (with its NATS and a load-generating Controller) runs in a
// child process, so the figures are the simulator's alone.
const (
	measureEnv       = "CUTTLE_SIM_MEASURE"      // number of devices
	measureIdleEnv   = "CUTTLE_SIM_MEASURE_IDLE" // seconds of idle CPU measurement (default 30)
	helperEnv        = "CUTTLE_SIM_HELPER_BROKER"
	helperCredsEnv   = "CUTTLE_SIM_HELPER_CREDS"
	helperDevicesEnv = "CUTTLE_SIM_HELPER_DEVICES"
)

func TestMeasureScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(measureEnv))
	if n <= 0 {
		t.Skipf("set %s=<devices> to measure", measureEnv)
	}
	idle := 30 * time.Second
	if s, err := strconv.Atoi(os.Getenv(measureIdleEnv)); err == nil && s > 0 {
		idle = time.Duration(s) * time.Second
	}
	h := startHelper(t, n)
	devs := readCreds(t, h.credsFile)

	runtime.GC()
	heap0, stack0, rss0 := memNow()
	const rate = 1000
	f, err := New(Config{
		Brokers:     []string{"mqtt://" + h.addr},
		Devices:     devs,
		Controllers: []agent.Controller{{EndpointID: testCtrl}},
		Rate:        rate,
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	heap1, _, rss1 := memNow()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	start := time.Now()
	waitConnected(t, f, n, time.Duration(n/rate)*time.Second+2*time.Minute)
	ramp := time.Since(start)
	time.Sleep(5 * time.Second)
	runtime.GC()
	heap2, stack2, rss2 := memNow()
	goroutines := runtime.NumGoroutine()

	cpu0 := cpuTime()
	time.Sleep(idle)
	idleCPU := (cpuTime() - cpu0).Seconds() / idle.Seconds()

	// One Get per device per second, sent by the helper's Controller.
	const loadSecs = 20
	before := f.Stats()
	cpu1 := cpuTime()
	loadStart := time.Now()
	sent, answered := h.load(t, n, loadSecs)
	loadTook := time.Since(loadStart)
	loadCPU := (cpuTime() - cpu1).Seconds() / loadTook.Seconds()
	after := f.Stats()

	per := func(v uint64) string { return fmt.Sprintf("%.1f KB", float64(v)/float64(n)/1024) }
	t.Logf("devices: %d (profile %s), GOMAXPROCS %d, %s", n, profile.DefaultName, runtime.GOMAXPROCS(0), runtime.Version())
	t.Logf("ramp-up at %d/s: %v", rate, ramp.Round(time.Millisecond))
	t.Logf("agents only (after New): heap %s, RSS %s per device", per(heap1-heap0), per(rss1-rss0))
	t.Logf("connected: heap %s + goroutine stacks %s, RSS %s per device; %d goroutines (%.1f per device)",
		per(heap2-heap0), per(stack2-stack0), per(rss2-rss0), goroutines, float64(goroutines)/float64(n))
	t.Logf("total RSS of the simulator: %.0f MB", float64(rss2)/(1<<20))
	t.Logf("CPU at idle (1 s ticks, 60 s keep-alive): %.1f %% of one core", idleCPU*100)
	t.Logf("CPU under load: %.1f %% of one core at %.0f Get/s achieved (target %d/s: %d sent in %v, %d answered; the simulator handled %d and answered %d)",
		loadCPU*100, float64(after.Requests-before.Requests)/loadTook.Seconds(), n, sent, loadTook.Round(time.Millisecond), answered,
		after.Requests-before.Requests, after.Responses-before.Responses)
	if s := f.Stats(); s.Connected != n {
		t.Errorf("stats: %+v", s)
	}
}

// memNow returns the live heap and goroutine stacks (after a GC by the
// caller) and the resident set size.
func memNow() (heap, stack, rss uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse, readRSS()
}

func readRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// helper is the child process running NATS, the broker and a Controller.
type helper struct {
	addr      string
	credsFile string
	stdin     io.WriteCloser
	lines     chan string
}

func startHelper(t *testing.T, n int) *helper {
	t.Helper()
	h := &helper{credsFile: t.TempDir() + "/creds.csv", lines: make(chan string, 16)}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokerProcess$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), helperEnv+"=1", helperCredsEnv+"="+h.credsFile, helperDevicesEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	var err error
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(func() {
		_ = h.stdin.Close()
		_ = cmd.Wait()
	})
	line := h.expect(t, "READY", 5*time.Minute)
	h.addr = strings.TrimPrefix(line, "READY ")
	return h
}

func (h *helper) expect(t *testing.T, prefix string, limit time.Duration) string {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				t.Fatalf("helper exited before %s", prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-deadline:
			t.Fatalf("helper: no %s within %v", prefix, limit)
		}
	}
}

// load asks the helper's Controller for rate Gets per second for secs
// seconds and returns how many it sent and how many were answered.
func (h *helper) load(t *testing.T, rate, secs int) (sent, answered int) {
	t.Helper()
	fmt.Fprintf(h.stdin, "load %d %d\n", rate, secs)
	line := h.expect(t, "LOADDONE", time.Duration(secs)*time.Second+time.Minute)
	_, _ = fmt.Sscanf(line, "LOADDONE %d %d", &sent, &answered)
	return sent, answered
}

func readCreds(t *testing.T, file string) []DeviceConfig {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]DeviceConfig, len(recs))
	for i, r := range recs {
		out[i] = DeviceConfig{EndpointID: r[0], Username: r[1], Secret: r[2]}
	}
	return out
}

// TestHelperBrokerProcess is the child of TestMeasureScale: NATS, broker,
// n device credentials written as CSV, and a Controller that generates load
// on request. It runs until its stdin closes.
func TestHelperBrokerProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process of TestMeasureScale")
	}
	n, _ := strconv.Atoi(os.Getenv(helperDevicesEnv))
	e := startEnv(t, nil)
	e.controller(testCtrl) // provisions it
	p, _ := profile.Builtin(profile.DefaultName)
	recs := make([][]string, n)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			eid := p.EndpointID(i + 1)
			_, secret, err := e.store.Add(context.Background(), creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
			recs[i] = []string{eid, eid, secret}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	e.waitMirror(recs[n-1][1])
	fh, err := os.Create(os.Getenv(helperCredsEnv))
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(fh)
	_ = w.WriteAll(recs)
	_ = fh.Close()
	ctrl := e.controller(testCtrl)
	fmt.Printf("READY %s\n", e.b.Addr("tcp"))

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var rate, secs int
		if _, err := fmt.Sscanf(sc.Text(), "load %d %d", &rate, &secs); err != nil {
			continue
		}
		sent, answered := loadGets(t, ctrl, recs, rate, secs)
		fmt.Printf("LOADDONE %d %d\n", sent, answered)
	}
}

// loadGets sends rate Gets a second, round robin over the devices, and
// counts the answers.
func loadGets(t *testing.T, ctrl *controller, recs [][]string, rate, secs int) (int, int) {
	var answered atomic.Int64
	var wg sync.WaitGroup
	sent := 0
	const batch = 50 // send in batches every 1/(rate/batch) s
	tick := time.NewTicker(time.Duration(float64(time.Second) * batch / float64(rate)))
	defer tick.Stop()
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for time.Now().Before(end) {
		<-tick.C
		for range batch {
			eid := recs[sent%len(recs)][0]
			sent++
			id := usp.NewMsgID()
			ch := ctrl.expect(id)
			wg.Go(func() {
				select {
				case <-ch:
					answered.Add(1)
				case <-time.After(10 * time.Second):
				}
			})
			_, err := ctrl.c.PublishWithOptions(context.Background(), &paho.Publish{
				Topic: "usp/v1/agent/" + eid, QoS: 1, Payload: ctrl.record(testCtrl, eid, id, usp.NewGet(0, "Device.DeviceInfo.UpTime")),
				Properties: &paho.PublishProperties{ContentType: "usp.msg", ResponseTopic: ctrl.inbox},
			}, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
			if err != nil {
				t.Logf("load publish: %v", err)
			}
		}
	}
	wg.Wait()
	return sent, int(answered.Load())
}
