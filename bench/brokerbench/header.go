package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"cuttle/broker"
)

// header describes the machine, the command and the sizes.
func header(cfg config) []string {
	cmd := "go run ./bench/brokerbench"
	if len(os.Args) > 1 {
		cmd += " " + strings.Join(os.Args[1:], " ")
	}
	h := []string{
		"date: " + time.Now().UTC().Format(time.RFC3339),
		"command: " + cmd,
		fmt.Sprintf("machine: %s, %d CPUs (GOMAXPROCS %d), %s, load average at start %s", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAvg()),
		fmt.Sprintf("load: %d devices × %d Records per scenario, %d lanes per device at QoS 1, %d controller lanes, %s, %d rounds (median shown); %d idle devices",
			cfg.load.devices, cfg.load.perDevice, cfg.load.lanes, cfg.load.ctlLanes, offered(cfg.load.rate), cfg.rounds, cfg.idle),
		"cuttle: " + revision() + map[bool]string{false: ", brokers in the harness process", true: ", brokers in child processes of their own (-isolate)"}[cfg.isolate],
		fmt.Sprintf("cuttle limits: MaxInflight %d, MaxQueued %d, MaxPendingWrites %d, ReceiveMaximum %d",
			orDefault(cfg.limits.maxInflight, broker.DefaultMaxInflight), orDefault(cfg.limits.maxQueued, broker.DefaultMaxQueued),
			orDefault(cfg.limits.maxPendingWrites, broker.DefaultMaxPendingWrites), orDefault(cfg.limits.receiveMaximum, broker.DefaultReceiveMaximum)),
	}
	if p := mosquittoPath(cfg.mosquitto); p != "" && cfg.throughput && cfg.wants("mosquitto") {
		var settings []string
		for line := range strings.Lines(mosquittoConf) {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "listener") && !strings.HasPrefix(line, "log_") {
				settings = append(settings, line)
			}
		}
		h = append(h, fmt.Sprintf("mosquitto: %s (%s)", mosquittoVersion(p), strings.Join(settings, ", ")))
	}
	return h
}

// revision names the commit the brokers were built from, and whether the
// broker's sources had uncommitted changes; best effort, through git.
func revision() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rev, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown revision (git unavailable)"
	}
	out := "commit " + strings.TrimSpace(string(rev))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--", "broker", "go.mod").Output(); err == nil && len(st) > 0 {
		out += " with uncommitted changes in broker/"
	}
	return out
}

func offered(rate float64) string {
	if rate == 0 {
		return "publishers unpaced"
	}
	return fmt.Sprintf("offered %.0f Records/s", rate)
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
