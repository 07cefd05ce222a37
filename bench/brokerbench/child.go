package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker"
	"cuttle/broker/creds"
)

// The idle-memory test runs the broker and the idle clients in two child
// processes (this binary again, in a hidden mode), so the broker's RSS holds
// nothing of the clients. A child talks to the parent in lines: it prints
// "ready <addr>" or "connected <n>" when up, answers the parent's commands
// on stdin, and exits when stdin closes, so it never outlives the parent.

// childLifetime bounds a child process no matter what the parent does.
const childLifetime = 10 * time.Minute

// memSample is one memory reading of a broker process.
type memSample struct {
	rss, heap, stack uint64 // bytes
	goroutines       int64
	clients          int64
}

func (m memSample) String() string {
	return fmt.Sprintf("mem %d %d %d %d %d", m.rss, m.heap, m.stack, m.goroutines, m.clients)
}

func parseMemSample(line string) (memSample, error) {
	var m memSample
	_, err := fmt.Sscanf(line, "mem %d %d %d %d %d", &m.rss, &m.heap, &m.stack, &m.goroutines, &m.clients)
	return m, err
}

// sampleMem collects garbage and reads the live Go heap, the goroutine
// stacks and the resident set size of this process.
func sampleMem(clients int64) (memSample, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err := readRSS()
	return memSample{rss: rss, heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: int64(runtime.NumGoroutine()), clients: clients}, err
}

// readRSS returns VmRSS from /proc/self/status in bytes.
func readRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// serveMain is the -serve mode: it runs a broker of the given kind
// ("cuttle" with every check on, "cuttle-insecure" with an anonymous
// listener, or "mochi" with Mochi's defaults and an allow-all hook) and
// answers "mem", "free", "counters", "heapprofile <file>" and "quit".
func serveMain(kind, natsURL string, maxConns int, lim limits, log *slog.Logger) error {
	time.AfterFunc(childLifetime, func() { os.Exit(3) })
	var (
		addr     string
		clients  func() int64
		counters func() map[string]float64
		stop     func() error
	)
	switch kind {
	case "cuttle", "cuttle-insecure":
		auth := broker.AuthPassword
		if kind == "cuttle-insecure" {
			auth = broker.AuthAnonymous
		}
		nc, err := nats.Connect(natsURL, nats.Name("brokerbench-serve"))
		if err != nil {
			return fmt.Errorf("connecting to NATS at %s: %w", natsURL, err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mirror, err := creds.NewMirror(ctx, creds.MirrorConfig{JetStream: js, Logger: log})
		if err != nil {
			return err
		}
		mirrorDone := make(chan struct{})
		go func() { defer close(mirrorDone); _ = mirror.Run(ctx) }()
		defer func() { cancel(); <-mirrorDone }()
		reg := prometheus.NewRegistry()
		b, err := broker.New(broker.Config{
			NodeName:            "brokerbench",
			Listeners:           []broker.ListenerConfig{{Name: "bench", Type: broker.ListenerTCP, Addr: "127.0.0.1:0", Auth: auth}},
			MaxConnectionsPerIP: maxConns,
			MaxInflight:         lim.maxInflight,
			MaxQueued:           lim.maxQueued,
			MaxPendingWrites:    lim.maxPendingWrites,
			ReceiveMaximum:      uint16(lim.receiveMaximum),
			Credentials:         mirror,
			Registerer:          reg,
			Logger:              log,
		})
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		bctx, bcancel := context.WithCancel(ctx)
		go func() { done <- b.Run(bctx) }()
		addr = b.Addr("bench")
		clients = func() int64 { return int64(gauge(reg, "cuttle_broker_clients_connected")) }
		counters = func() map[string]float64 {
			out := map[string]float64{}
			for short, metric := range brokerCounters {
				out[short] = gauge(reg, metric)
			}
			return out
		}
		stop = func() error { bcancel(); return <-done }
	case "mochi":
		// Mochi's defaults, except that its log (which goes to stdout by
		// default) is discarded: stdout carries this protocol.
		s := mqtt.New(&mqtt.Options{Logger: log})
		if err := s.AddHook(new(allowAll), nil); err != nil {
			return err
		}
		l := listeners.NewTCP(listeners.Config{ID: "bench", Address: "127.0.0.1:0"})
		if err := s.AddListener(l); err != nil {
			return err
		}
		if err := s.Serve(); err != nil {
			return err
		}
		addr = l.Address()
		clients = func() int64 { return atomic.LoadInt64(&s.Info.ClientsConnected) }
		stop = s.Close
	default:
		return fmt.Errorf("-serve: unknown broker %q (want cuttle or mochi)", kind)
	}
	fmt.Printf("ready %s\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "free":
			debug.FreeOSMemory()
			fallthrough
		case "mem":
			m, err := sampleMem(clients())
			if err != nil {
				return err
			}
			fmt.Println(m)
		case "counters":
			var c map[string]float64
			if counters != nil {
				c = counters()
			}
			fmt.Printf("counters %v %v %v\n", c["queue_drops"], c["inflight_drops"], c["flow_waits"])
		case "quit":
			return stop()
		default:
			if path, ok := strings.CutPrefix(in.Text(), "heapprofile "); ok {
				if err := writeHeapProfile(path); err != nil {
					return err
				}
				fmt.Println("heapprofile written")
				continue
			}
			return fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return stop()
}

// writeHeapProfile writes the live heap, after a GC, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	return errors.Join(pprof.WriteHeapProfile(f), f.Close())
}

// allowAll lets every client in with every right, like Mochi's
// auth.AllowHook; that package is not importable here, because it pulls in
// a YAML module go.sum does not pin.
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// clientsMain is the -client-only mode: it connects one idle device per
// line of the secrets file, prints "connected <n>", and on "disconnect"
// (or when stdin closes) disconnects them all and prints "disconnected".
func clientsMain(addr, secretsPath string) error {
	time.AfterFunc(childLifetime, func() { os.Exit(3) })
	ids, err := readSecrets(secretsPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Idle devices: a keep-alive long enough that no PINGREQ is sent during
	// the test.
	cs, err := connectAll(ctx, ids, dialOpts{addr: addr, login: true, keepAlive: 600}, nil, nil, 0)
	if err != nil {
		return err
	}
	fmt.Printf("connected %d\n", len(cs))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "disconnect" {
	}
	disconnectAll(cs)
	fmt.Println("disconnected")
	return nil
}
