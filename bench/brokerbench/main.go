// Command brokerbench is Cuttle's broker load harness. In one run it
// measures USP-shaped MQTT traffic (fan-in: every device publishing Records
// to one controller inbox; fan-out: the controller publishing to every
// device inbox, each at QoS 0 and QoS 1) against Cuttle's broker with every
// check on, the same broker with security off, and Mosquitto when it is
// installed; then the memory each idle authenticated device costs the
// broker, against Mochi's defaults. It prints one table, as markdown with
// -markdown, and exits non-zero when a broker fails to start or a QoS 1
// scenario loses a message.
//
//	go run ./bench/brokerbench [-devices 1000] [-msgs 50] [-idle 5000] [-markdown]
//
// See bench/README.md for every flag and docs/performance.md for results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	load       load
	idle       int
	rounds     int
	mosquitto  string
	markdown   bool
	throughput bool
	memory     bool
	verbose    bool
	cpuProfile string
	memProfile string
	isolate    bool   // Cuttle's brokers in child processes
	targets    string // comma-separated target keys to run
	scenarios  string // comma-separated scenario names to run
	limits     limits
}

const internal = "internal: "

func main() {
	var (
		cfg                       config
		serve, natsURL, addr, sec string
		clientOnly                bool
		maxConns                  int
	)
	flag.IntVar(&cfg.load.devices, "devices", 1000, "devices in the fleet (each with its own connection and credential)")
	flag.IntVar(&cfg.load.perDevice, "msgs", 50, "Records each device publishes (fan-in) or receives (fan-out) per scenario")
	flag.IntVar(&cfg.load.lanes, "lanes", 4, "publishing goroutines per device at QoS 1, so PUBACKs pipeline")
	flag.IntVar(&cfg.load.ctlLanes, "ctl-lanes", 16, "publishing goroutines of the controller in fan-out")
	flag.Float64Var(&cfg.load.rate, "rate", 0, "offered Records per second per run, spread over all publishers (0: as fast as they go)")
	flag.IntVar(&cfg.idle, "idle", 5000, "idle authenticated devices for the memory test (0 skips it)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "run every scenario this many times and report the median run")
	flag.StringVar(&cfg.targets, "targets", "secure,insecure,mosquitto", "brokers to measure: secure, insecure, mosquitto")
	flag.StringVar(&cfg.scenarios, "scenarios", "fan-in-0,fan-in-1,fan-out-0,fan-out-1", "scenarios to run: fan-in-0, fan-in-1, fan-out-0, fan-out-1 (direction and QoS)")
	flag.StringVar(&cfg.mosquitto, "mosquitto", "auto", `mosquitto binary: "auto" looks it up on PATH, "off" skips the comparison`)
	flag.BoolVar(&cfg.markdown, "markdown", false, "print the tables as markdown")
	flag.BoolVar(&cfg.throughput, "throughput", true, "run the fan-in and fan-out scenarios")
	flag.BoolVar(&cfg.memory, "memory", true, "run the idle-connection memory test")
	flag.DurationVar(&cfg.load.settle, "settle", 3*time.Second, "end a run when nothing has arrived for this long")
	flag.DurationVar(&cfg.load.timeout, "timeout", time.Minute, "upper bound of one run, from the first publish")
	flag.IntVar(&cfg.limits.maxInflight, "max-inflight", 0, "override the broker's MaxInflight (0: its default)")
	flag.IntVar(&cfg.limits.maxQueued, "max-queued", 0, "override the broker's MaxQueued (0: its default)")
	flag.IntVar(&cfg.limits.maxPendingWrites, "max-pending-writes", 0, "override the broker's MaxPendingWrites (0: its default)")
	flag.IntVar(&cfg.limits.receiveMaximum, "receive-maximum", 0, "override the broker's ReceiveMaximum (0: its default)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the throughput scenarios (clients and in-process brokers) to this file")
	flag.StringVar(&cfg.memProfile, "memprofile", "", "write each idle broker's heap profile, while the devices are connected, to this file + .cuttle / .mochi")
	flag.BoolVar(&cfg.verbose, "v", false, "log progress at debug level and the brokers' warnings")
	flag.StringVar(&serve, "serve", "", internal+"run a broker (cuttle or mochi) for the memory test")
	flag.BoolVar(&clientOnly, "client-only", false, internal+"connect idle devices for the memory test")
	flag.StringVar(&natsURL, "nats", "", internal+"NATS URL holding the credentials (-serve cuttle)")
	flag.StringVar(&addr, "addr", "", internal+"broker address (-client-only)")
	flag.IntVar(&maxConns, "max-conns", 0, internal+"the broker's cap on connections per IP (-serve; 0: -idle + 100)")
	flag.BoolVar(&cfg.isolate, "isolate", false, "run Cuttle's brokers in child processes of their own, as Mosquitto runs, instead of in the harness process")
	flag.StringVar(&sec, "secrets", "", internal+"file of endpoint IDs and secrets (-client-only)")
	flag.Usage = usage
	flag.Parse()

	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component", "brokerbench")
	brokerLog := slog.New(slog.DiscardHandler)
	if cfg.verbose {
		brokerLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	var err error
	switch {
	case serve != "":
		if maxConns == 0 {
			maxConns = cfg.idle + 100
		}
		err = serveMain(serve, natsURL, maxConns, cfg.limits, brokerLog)
	case clientOnly:
		err = clientsMain(addr, sec)
	default:
		err = runMain(cfg, log, brokerLog)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "brokerbench: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	out := flag.CommandLine.Output()
	fmt.Fprintf(out, "Usage: go run ./bench/brokerbench [flags]\n\nMeasures Cuttle's broker against itself without security and against Mosquitto.\n\n")
	flag.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, internal) {
			return
		}
		fmt.Fprintf(out, "  -%s (default %q)\n    \t%s\n", f.Name, f.DefValue, f.Usage)
	})
}

func (c *config) validate() error {
	l := c.load
	switch {
	case l.devices < 1 || l.perDevice < 1 || l.lanes < 1 || l.ctlLanes < 1:
		return errors.New("-devices, -msgs, -lanes and -ctl-lanes must be at least 1")
	case c.idle < 0 || c.rounds < 1:
		return errors.New("-idle must not be negative and -rounds must be at least 1")
	case l.rate < 0:
		return errors.New("-rate must not be negative")
	case l.settle <= 0 || l.timeout <= 0:
		return errors.New("-settle and -timeout must be positive")
	case int64(l.devices)*int64(l.perDevice) > 50_000_000:
		return errors.New("-devices × -msgs above 50 million: every Record is encoded in memory before a run")
	}
	for _, t := range strings.Split(c.targets, ",") {
		if t != "secure" && t != "insecure" && t != "mosquitto" {
			return fmt.Errorf("-targets: unknown broker %q (want secure, insecure or mosquitto)", t)
		}
	}
	_, err := c.selectedScenarios()
	return err
}

// selectedScenarios returns the scenarios -scenarios names, in the
// standard order.
func (c *config) selectedScenarios() ([]scenario, error) {
	names := strings.Split(c.scenarios, ",")
	var out []scenario
	for _, sc := range scenarios {
		if slices.Contains(names, sc.flagName()) {
			out = append(out, sc)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.flagName() == n }) {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (want fan-in-0, fan-in-1, fan-out-0 or fan-out-1)", n)
		}
	}
	return out, nil
}

func (c *config) wants(target string) bool {
	return slices.Contains(strings.Split(c.targets, ","), target)
}

// runMain is the orchestrating parent: it runs every scenario against
// every target, then the memory test, prints the report and fails when
// anything failed.
func runMain(cfg config, log, brokerLog *slog.Logger) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := &report{header: header(cfg)}
	started := time.Now()
	err := run(ctx, cfg, rep, log, brokerLog)
	if err != nil {
		rep.failures = append(rep.failures, err.Error())
	}
	rep.header = append(rep.header, fmt.Sprintf("finished: in %v, load average at the end %s", time.Since(started).Round(time.Second), loadAvg()))
	rep.write(os.Stdout, cfg.markdown)
	if len(rep.failures) > 0 {
		return fmt.Errorf("%d failure(s):\n  %s", len(rep.failures), strings.Join(rep.failures, "\n  "))
	}
	return nil
}
