package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/embednats"
)

// target is one broker under test, listening on 127.0.0.1.
type target struct {
	key   string // secure, insecure or mosquitto: used for ratios
	name  string // shown in the table
	addr  string
	login bool // clients must send their credentials
	// counters reads the broker's own counters (brokerCounters); nil when
	// the broker does not report them.
	counters func() map[string]float64
	// cpu returns the CPU time used so far by the broker and the clients
	// together: this process, plus the broker's own process if it has one.
	cpu  func() time.Duration
	stop func() error
}

// credsEnv is an embedded NATS server holding the credential buckets, the
// store that writes them and the mirror the in-process brokers read.
type credsEnv struct {
	ns     *embednats.Server
	nc     *nats.Conn
	store  *creds.Store
	mirror *creds.Mirror
	cancel context.CancelFunc
	wg     sync.WaitGroup // the mirror's Run
}

func startCreds(ctx context.Context, log *slog.Logger) (*credsEnv, error) {
	ns, err := embednats.Start(embednats.Config{Port: embednats.RandomPort, Logger: log})
	if err != nil {
		return nil, err
	}
	e := &credsEnv{ns: ns}
	if e.nc, err = ns.Connect(nats.Name("brokerbench")); err != nil {
		ns.Shutdown()
		return nil, err
	}
	js, err := jetstream.New(e.nc)
	if err != nil {
		e.close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	if e.store, err = creds.OpenStore(rctx, creds.StoreConfig{JetStream: js}); err != nil {
		e.close()
		return nil, err
	}
	if e.mirror, err = creds.NewMirror(rctx, creds.MirrorConfig{JetStream: js}); err != nil {
		e.close()
		return nil, err
	}
	e.wg.Go(func() { _ = e.mirror.Run(rctx) })
	return e, nil
}

func (e *credsEnv) close() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	if e.nc != nil {
		e.nc.Close()
	}
	e.ns.Shutdown()
}

// provision adds a credential for every identity (generated secrets, which
// the broker checks with HMAC-SHA-256) and waits until the mirror has them
// all.
func (e *credsEnv) provision(ctx context.Context, role creds.Role, ids []identity) error {
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				actx, cancel := context.WithTimeout(ctx, dialTimeout)
				_, secret, err := e.store.Add(actx, creds.AddRequest{Role: role, EndpointID: ids[i].eid})
				cancel()
				if err != nil {
					select {
					case errs <- fmt.Errorf("provisioning %s: %w", ids[i].eid, err):
					default:
					}
					continue
				}
				ids[i].secret = secret
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			if _, ok := e.mirror.Lookup(id.eid); ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the credential mirror did not receive %s within 30s", id.eid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// limits are broker settings the harness may override; zero keeps the
// broker's defaults.
type limits struct {
	maxInflight, maxQueued, maxPendingWrites int
	receiveMaximum                           int
}

// args returns the command-line flags that set l, for a child process.
func (l limits) args() []string {
	var out []string
	for _, f := range []struct {
		name string
		v    int
	}{{"max-inflight", l.maxInflight}, {"max-queued", l.maxQueued}, {"max-pending-writes", l.maxPendingWrites}, {"receive-maximum", l.receiveMaximum}} {
		if f.v != 0 {
			out = append(out, "-"+f.name, strconv.Itoa(f.v))
		}
	}
	return out
}

// startCuttle runs Cuttle's broker in this process with one TCP listener
// on 127.0.0.1 whose auth policy is auth, as harness_test.go does.
func startCuttle(key, name, auth string, mirror *creds.Mirror, maxPerIP int, lim limits, log *slog.Logger) (*target, error) {
	reg := prometheus.NewRegistry()
	b, err := broker.New(broker.Config{
		NodeName:            "brokerbench",
		Listeners:           []broker.ListenerConfig{{Name: "bench", Type: broker.ListenerTCP, Addr: "127.0.0.1:0", Auth: auth}},
		MaxConnectionsPerIP: maxPerIP,
		MaxInflight:         lim.maxInflight,
		MaxQueued:           lim.maxQueued,
		MaxPendingWrites:    lim.maxPendingWrites,
		ReceiveMaximum:      uint16(lim.receiveMaximum),
		Credentials:         mirror,
		Registerer:          reg,
		Logger:              log,
	})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return &target{
		key: key, name: name, addr: b.Addr("bench"), login: auth != broker.AuthAnonymous, cpu: selfCPU,
		counters: func() map[string]float64 {
			out := map[string]float64{}
			for short, metric := range brokerCounters {
				out[short] = gauge(reg, metric)
			}
			return out
		},
		stop: func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(15 * time.Second):
				return fmt.Errorf("%s did not stop within 15s", name)
			}
		},
	}, nil
}

// brokerCounters are the Cuttle broker metrics a run reports, by short
// name: Mochi's drops for a full outbound queue (for QoS 1/2 the broker
// re-queues them itself) and for a full inflight store (MaxQueued), and the
// device publishes the broker held back while their recipient's backlog
// was long.
var brokerCounters = map[string]string{
	"queue_drops":    "cuttle_broker_queue_drops_total",
	"inflight_drops": "cuttle_broker_inflight_drops_total",
	"flow_waits":     "cuttle_broker_flow_waits_total",
}

// gauge reads the value of an unlabelled counter or gauge from reg, or 0.
func gauge(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// mosquittoConf is the configuration the comparison runs Mosquitto with:
// anonymous access on loopback, queues and inflight windows large enough
// that Mosquitto never drops a benchmark message, no persistence, and
// TCP_NODELAY like the Go brokers (Mosquitto leaves Nagle on by default).
const mosquittoConf = `listener %d 127.0.0.1
allow_anonymous true
max_queued_messages 100000
max_inflight_messages 0
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
`

// mosquittoVersion returns the first line `mosquitto -h` prints.
func mosquittoVersion(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "-h").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// startMosquitto runs the mosquitto binary at path on a free loopback port
// with mosquittoConf, in a temporary directory it removes on stop.
func startMosquitto(path string) (*target, error) {
	dir, err := os.MkdirTemp("", "brokerbench-mosquitto-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, mosquittoConf, port), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(path, "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the harness
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting mosquitto: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		defer os.RemoveAll(dir)
		select {
		case err := <-exited:
			return fmt.Errorf("mosquitto exited early: %v: %s", err, stderr.String())
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return nil
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("mosquitto ignored SIGTERM for 5s and was killed")
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case err := <-exited:
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("mosquitto exited at start: %v: %s", err, strings.TrimSpace(stderr.String()))
		default:
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("mosquitto did not listen on %s within 5s: %s", addr, strings.TrimSpace(stderr.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := cmd.Process.Pid
	cpu := func() time.Duration { return selfCPU() + procCPU(pid) }
	return &target{key: "mosquitto", name: "mosquitto", addr: addr, cpu: cpu, stop: stop}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady proves a target serves MQTT by connecting the controller, so a
// broker that failed to start is reported before any scenario runs.
func waitReady(ctx context.Context, t *target, ctl identity) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dial(ctx, ctl, dialOpts{addr: t.addr, login: t.login, keepAlive: 30})
		if err == nil {
			return c.Disconnect(&paho.Disconnect{})
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s on %s is not accepting MQTT clients: %w", t.name, t.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child
// process's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // keep the first 64 KiB: enough to explain a failure
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startCuttleChild runs Cuttle's broker in a child process of its own
// (-serve), as Mosquitto runs, so it shares neither the scheduler nor the
// garbage collector with the clients. kind is "cuttle" (every check on) or
// "cuttle-insecure" (anonymous listener).
func startCuttleChild(key, name, kind, natsURL string, maxConns int, lim limits, verbose bool) (*target, error) {
	args := append([]string{"-serve", kind, "-nats", natsURL, "-max-conns", strconv.Itoa(maxConns)}, lim.args()...)
	if verbose {
		args = append(args, "-v")
	}
	c, err := startChild(name, args...)
	if err != nil {
		return nil, err
	}
	line, err := c.expect("ready ", time.Minute)
	if err != nil {
		_ = c.stop(10 * time.Second)
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	pid := c.cmd.Process.Pid
	var mu sync.Mutex // one command at a time
	return &target{
		key: key, name: name, addr: strings.TrimPrefix(line, "ready "), login: kind == "cuttle",
		counters: func() map[string]float64 {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]float64{}
			if c.send("counters") != nil {
				return out
			}
			line, err := c.expect("counters ", 10*time.Second)
			if err != nil {
				return out
			}
			var q, i, f float64
			if _, err := fmt.Sscanf(line, "counters %g %g %g", &q, &i, &f); err == nil {
				out["queue_drops"], out["inflight_drops"], out["flow_waits"] = q, i, f
			}
			return out
		},
		cpu: func() time.Duration { return selfCPU() + procCPU(pid) },
		stop: func() error {
			mu.Lock()
			defer mu.Unlock()
			_ = c.send("quit")
			return c.stop(30 * time.Second)
		},
	}, nil
}
