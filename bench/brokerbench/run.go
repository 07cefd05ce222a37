package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"time"

	"cuttle/broker"
	"cuttle/broker/creds"
)

// run provisions the credentials, measures every selected scenario against
// every target, then the idle-connection memory, adding results and
// failures to rep. An error means the run could not go on.
func run(ctx context.Context, cfg config, rep *report, log, brokerLog *slog.Logger) error {
	fleetSize := cfg.load.devices
	if cfg.memory && cfg.idle > fleetSize {
		fleetSize = cfg.idle
	}
	started := time.Now()
	env, err := startCreds(ctx, brokerLog)
	if err != nil {
		return fmt.Errorf("starting NATS and the credential store: %w", err)
	}
	defer env.close()
	ctl := []identity{{eid: controllerID}}
	devices := make([]identity, fleetSize)
	for i := range devices {
		devices[i] = identity{eid: deviceID(i)}
	}
	if err := env.provision(ctx, creds.RoleController, ctl); err != nil {
		return err
	}
	if err := env.provision(ctx, creds.RoleDevice, devices); err != nil {
		return err
	}
	log.Info("credentials provisioned", "devices", len(devices), "took", time.Since(started).Round(time.Millisecond))

	if cfg.throughput {
		if err := runThroughput(ctx, cfg, rep, env, ctl[0], devices, log, brokerLog); err != nil {
			return err
		}
	}
	if cfg.memory && cfg.idle > 0 {
		path, remove, err := secretsFile(devices[:cfg.idle])
		if err != nil {
			return err
		}
		defer remove()
		for _, kind := range []string{"cuttle", "mochi"} {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m := memoryTest(kind, env.ns.ClientURL(), path, cfg.idle, cfg.limits, cfg.memProfile, cfg.verbose, log)
			if m.err != nil {
				rep.failures = append(rep.failures, m.err.Error())
			} else {
				log.Info("idle memory measured", "broker", kind, "rss_per_conn", perConn(m.before.rss, m.during.rss, m.idle),
					"heap_per_conn", perConn(m.before.heap, m.during.heap, m.idle))
			}
			rep.memory = append(rep.memory, m)
		}
	}
	log.Info("done", "took", time.Since(started).Round(time.Second))
	return nil
}

// runThroughput starts the targets, runs cfg.rounds rounds (each target
// in turn connects the fleet and runs every scenario, the first target
// rotating each round) and keeps each scenario's median run.
func runThroughput(ctx context.Context, cfg config, rep *report, env *credsEnv, ctl identity, devices []identity, log, brokerLog *slog.Logger) error {
	// One controller, the fleet, and a margin for the readiness probe.
	maxPerIP := cfg.load.devices + 10
	var targets []*target
	selected, err := cfg.selectedScenarios()
	if err != nil {
		return err
	}
	defer func() {
		for _, t := range targets {
			if err := t.stop(); err != nil {
				rep.failures = append(rep.failures, fmt.Sprintf("stopping %s: %v", t.name, err))
			}
		}
	}()
	for _, c := range []struct{ key, name, auth, kind string }{
		{"secure", "cuttle secure", broker.AuthPassword, "cuttle"},
		{"insecure", "cuttle insecure", broker.AuthAnonymous, "cuttle-insecure"},
	} {
		if !cfg.wants(c.key) {
			continue
		}
		var t *target
		var err error
		if cfg.isolate {
			t, err = startCuttleChild(c.key, c.name, c.kind, env.ns.ClientURL(), maxPerIP, cfg.limits, cfg.verbose)
		} else {
			t, err = startCuttle(c.key, c.name, c.auth, env.mirror, maxPerIP, cfg.limits, brokerLog)
		}
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if path := mosquittoPath(cfg.mosquitto); path != "" && cfg.wants("mosquitto") {
		m, err := startMosquitto(path)
		if err != nil {
			return err
		}
		targets = append(targets, m)
	} else if cfg.wants("mosquitto") {
		log.Info("mosquitto not found on PATH: skipping the comparison")
	}
	for _, t := range targets {
		if err := waitReady(ctx, t, ctl); err != nil {
			return err
		}
	}

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r := &runner{ctl: ctl, devices: devices, load: cfg.load, log: log}
	runs := map[string][]result{}
	connects := map[string][]time.Duration{}
	for round := range cfg.rounds {
		for i := range targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t := targets[(i+round)%len(targets)] // rotate who goes first
			s, err := r.connect(ctx, t)
			if err != nil {
				return err
			}
			connects[t.key] = append(connects[t.key], s.connect)
			for _, sc := range selected {
				if ctx.Err() != nil {
					s.close()
					return ctx.Err()
				}
				res := r.run(ctx, s, sc)
				runs[sc.String()+"|"+t.key] = append(runs[sc.String()+"|"+t.key], res)
				for _, f := range check(res) {
					if cfg.rounds > 1 {
						f = fmt.Sprintf("round %d: %s", round+1, f)
					}
					rep.failures = append(rep.failures, f)
				}
			}
			s.close()
		}
	}
	for _, sc := range selected {
		for _, t := range targets {
			rep.results = append(rep.results, median(runs[sc.String()+"|"+t.key]))
		}
	}
	for _, t := range targets {
		d := slices.Clone(connects[t.key])
		slices.Sort(d)
		rep.connects = append(rep.connects, connectResult{target: t.name, devices: cfg.load.devices, took: d[len(d)/2]})
	}
	return nil
}

// median returns the run with the median delivered rate; a failed run
// counts as the slowest.
func median(rs []result) result {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b result) int {
		if (a.err != nil) != (b.err != nil) {
			if a.err != nil {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.rate(), b.rate())
	})
	return rs[len(rs)/2]
}

// check lists what makes a run a failure: it could not run, a QoS 1
// Record was lost or refused, or a receiver got something malformed.
func check(res result) []string {
	what := fmt.Sprintf("%s against %s", res.scenario, res.target.name)
	if res.err != nil {
		return []string{fmt.Sprintf("%s: %v", what, res.err)}
	}
	var out []string
	if res.tally.invalid > 0 {
		out = append(out, fmt.Sprintf("%s: %d malformed or misrouted Records (last: %s)", what, res.tally.invalid, res.tally.lastErr))
	}
	if res.scenario.qos > 0 && res.pubFails > 0 {
		out = append(out, fmt.Sprintf("%s: %d QoS 1 publishes failed (first: %s)", what, res.pubFails, res.firstErr))
	}
	if res.scenario.qos > 0 && res.lost() > 0 {
		msg := fmt.Sprintf("%s: lost %d of %d QoS 1 Records", what, res.lost(), res.expected)
		if c := res.counters; c != nil {
			msg += fmt.Sprintf(" (broker counters during the run: %.0f drops for a full outbound queue, MaxPendingWrites; %.0f drops for a full inflight store, MaxQueued; %.0f publishes held by flow control)",
				c["queue_drops"], c["inflight_drops"], c["flow_waits"])
		}
		out = append(out, msg)
	}
	return out
}

// mosquittoPath resolves the -mosquitto flag to a binary, or "".
func mosquittoPath(flagValue string) string {
	switch flagValue {
	case "off", "":
		return ""
	case "auto":
		p, err := exec.LookPath("mosquitto")
		if err != nil {
			return ""
		}
		return p
	}
	return flagValue
}
