package jobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cuttle/devices/inventory"
	"cuttle/simulator/fleet"
)

// A benchmark's simulated fleet runs in the test process or, when it is
// too big for the process's open files, in a child: the test binary run
// again for TestBenchFleetProcess.
const (
	// benchFleetEnv chooses where: "in-process", "process", or empty for
	// in-process unless the fleet does not fit (fleetFits).
	benchFleetEnv = "CUTTLE_BENCH_FLEET"
	// fleetProcessEnv names the fleetSpec file of the child.
	fleetProcessEnv = "CUTTLE_BENCH_FLEET_SPEC"
	// fdReserve is the open files an in-process fleet leaves for NATS,
	// the controller, the broker's listener and the test.
	fdReserve = 2000
)

// fleetSpec is what the fleet process needs: where the broker is and who
// the devices are. The parent writes it as JSON to a temporary file.
type fleetSpec struct {
	URL     string        `json:"url"`
	Devices []benchDevice `json:"devices"`
}

type benchDevice struct {
	EndpointID string `json:"endpoint_id"`
	Secret     string `json:"secret"`
}

// benchFleet is a running benchmark fleet.
type benchFleet struct {
	pid int // the fleet process's, 0 in-process
}

// startBenchFleet connects every device of the stack, in this process or
// in a fleet process as CUTTLE_BENCH_FLEET says, and waits until the
// inventory shows them online and described.
func (s *stack) startBenchFleet() benchFleet {
	t := s.t
	t.Helper()
	n := len(s.eids)
	where := os.Getenv(benchFleetEnv)
	switch where {
	case "":
		where = "in-process"
		if !fleetFits(n) {
			where = "process"
		}
	case "in-process", "process":
	default:
		t.Fatalf("%s=%q: want in-process or process", benchFleetEnv, where)
	}
	t.Logf("fleet of %d devices: %s", n, where)
	if where == "in-process" {
		s.startFleet(s.eids)
		return benchFleet{}
	}
	return s.startFleetProcess(s.eids)
}

// fleetFits reports whether n devices fit in this process next to the
// broker: each device holds a socket and the broker another.
func fleetFits(n int) bool {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return true
	}
	return 2*uint64(n)+fdReserve <= lim.Cur
}

// startFleetProcess runs the given devices in a child process, which ends
// when the test does (its stdin closes) or when this process dies, and
// waits until the inventory shows them online and described.
func (s *stack) startFleetProcess(eids []string) benchFleet {
	t := s.t
	t.Helper()
	if s.profile != nil {
		t.Fatal("a fleet process runs the default profile only")
	}
	spec := fleetSpec{URL: s.url}
	for _, eid := range eids {
		spec.Devices = append(spec.Devices, benchDevice{EndpointID: eid, Secret: s.secrets[eid]})
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}

	timeout := "0"
	if f := flag.Lookup("test.timeout"); f != nil {
		timeout = f.Value.String()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchFleetProcess$", "-test.timeout="+timeout)
	cmd.Env = append(os.Environ(), fleetProcessEnv+"="+file)
	// Stdin reaches EOF when this process closes it or dies; SIGKILL on
	// this process's death covers a child that stopped reading.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		t.Fatal(err)
	}
	_ = w.Close()

	var out tailLines
	ready, read := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(read)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for isReady := false; sc.Scan(); {
			if sc.Text() == fleetReady && !isReady {
				close(ready)
				isReady = true
				continue
			}
			out.add(sc.Text())
		}
	}()
	var waitErr error
	exited := make(chan struct{})
	go func() { defer close(exited); waitErr = cmd.Wait() }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		<-read
		if waitErr != nil {
			t.Errorf("fleet process: %v\n%s", waitErr, out.String())
		}
	})

	select {
	case <-ready:
	case <-exited:
		<-read
		t.Fatalf("the fleet process ended before starting its devices: %v\n%s", waitErr, out.String())
	case <-time.After(time.Minute):
		t.Fatal("the fleet process did not start its devices within a minute")
	}
	start := time.Now()
	s.waitStatus(eids, inventory.StatusOnline, 20*time.Second+time.Duration(len(eids))*10*time.Millisecond)
	t.Logf("%d devices online after %s (fleet process %d)", len(eids), time.Since(start).Round(time.Millisecond), cmd.Process.Pid)
	return benchFleet{pid: cmd.Process.Pid}
}

// cpu is the CPU time (user and system) the fleet process has used so far;
// zero for an in-process fleet, which cpuTime counts.
func (f benchFleet) cpu(tb testing.TB) time.Duration {
	tb.Helper()
	if f.pid == 0 {
		return 0
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(f.pid) + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	// The command name in parentheses may hold spaces; after it come the
	// state (field 3) and, as fields 14 and 15, utime and stime in clock
	// ticks of 1/100 s.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		tb.Fatalf("fleet process: unexpected /proc stat %q", data)
	}
	var ticks uint64
	for _, s := range fields[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("fleet process: /proc stat: %v", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// fleetReady is the line the fleet process writes once its devices start
// connecting.
const fleetReady = "FLEET READY"

// TestBenchFleetProcess is the fleet process of BenchmarkBulkGet and
// BenchmarkGetThroughput (startFleetProcess): it runs the devices of the
// spec file $CUTTLE_BENCH_FLEET_SPEC, with the test harness's fleet
// settings, until its stdin closes.
func TestBenchFleetProcess(t *testing.T) {
	file := os.Getenv(fleetProcessEnv)
	if file == "" {
		t.Skip("the fleet process of the benchmarks; runs only as their child")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var spec fleetSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	devs := make([]fleet.DeviceConfig, len(spec.Devices))
	for i, d := range spec.Devices {
		devs[i] = fleet.DeviceConfig{EndpointID: d.EndpointID, Secret: d.Secret}
	}
	f, err := fleet.New(fleetConfig(spec.URL, nil, devs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdinClosed := make(chan struct{})
	go func() {
		defer close(stdinClosed)
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(fleetReady)
	if err := f.Run(ctx); err != nil {
		t.Fatal(err)
	}
	<-stdinClosed
}

// tailLines keeps the last lines of a child's output for an error message.
type tailLines struct {
	mu    sync.Mutex // guards lines
	lines []string
}

func (o *tailLines) add(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 50 {
		o.lines = o.lines[1:]
	}
	o.lines = append(o.lines, line)
}

func (o *tailLines) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}
