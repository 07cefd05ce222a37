package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"cuttle/broker/creds"
)

// envInt reads a stress parameter; `make stress` raises them.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestStressAllToAllQoS1 is the load that deadlocks plain Mochi v2.7.9:
// clients that publish QoS 1 while receiving QoS 1 from each other. Every
// run must deliver every message to every client with no stall (no progress
// for 15 s). `make stress` runs it 20 times with 10 clients × 10,000
// messages; the default is a short version that still exercises the
// pattern on every `make test`.
func TestStressAllToAllQoS1(t *testing.T) {
	runs := envInt("CUTTLE_STRESS_RUNS", 2)
	clients := envInt("CUTTLE_STRESS_CLIENTS", 10)
	msgs := envInt("CUTTLE_STRESS_MSGS", 500)
	e := startEnv(t, func(c *Config) {
		c.Listeners = append(c.Listeners, ListenerConfig{Name: "local", Addr: "127.0.0.1:0", Auth: AuthAnonymous})
	})
	for run := range runs {
		start := time.Now()
		if err := allToAll(e, run, clients, msgs); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		t.Logf("run %d: %d clients × %d msgs all-to-all in %v", run, clients, msgs, time.Since(start).Round(time.Millisecond))
	}
}

func allToAll(e *env, run, n, msgs int) error {
	topic := fmt.Sprintf("stress/%d/", run)
	type peer struct {
		c    *client
		got  [][]bool // [publisher][seq]
		recv atomic.Int64
		mu   sync.Mutex // guards got
	}
	peers := make([]*peer, n)
	for i := range peers {
		c := e.mustDial(dialOpts{listener: "local", clientID: fmt.Sprintf("stress-%d-%d", run, i)})
		p := &peer{c: c, got: make([][]bool, n)}
		for j := range p.got {
			p.got[j] = make([]bool, msgs)
		}
		peers[i] = p
		if code := c.subscribe(e.t, topic+"+", 1); code != codeGrantedQoS1 {
			return fmt.Errorf("subscribe: 0x%02x", code)
		}
		go func() {
			for m := range c.msgs {
				if len(m.Payload) < 8 {
					continue
				}
				from, seq := int(binary.BigEndian.Uint32(m.Payload)), int(binary.BigEndian.Uint32(m.Payload[4:]))
				p.mu.Lock()
				if from < n && seq < msgs && !p.got[from][seq] {
					p.got[from][seq] = true
					p.recv.Add(1)
				}
				p.mu.Unlock()
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n*4)
	const lanes = 4 // concurrent publishes per client, so PUBACKs pipeline
	for i, p := range peers {
		for lane := range lanes {
			wg.Go(func() {
				payload := make([]byte, 64)
				for seq := lane; seq < msgs; seq += lanes {
					binary.BigEndian.PutUint32(payload, uint32(i))
					binary.BigEndian.PutUint32(payload[4:], uint32(seq))
					pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
					_, err := p.c.Publish(pctx, &paho.Publish{Topic: topic + strconv.Itoa(i), QoS: 1, Payload: append([]byte(nil), payload...)})
					pcancel()
					if err != nil {
						errs <- fmt.Errorf("client %d publish %d: %w (stalled?)", i, seq, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	want := int64(n * msgs)
	last, lastChange := int64(-1), time.Now()
	for {
		var total int64
		done := true
		for _, p := range peers {
			r := p.recv.Load()
			total += r
			done = done && r == want
		}
		if done {
			break
		}
		if total != last {
			last, lastChange = total, time.Now()
		} else if time.Since(lastChange) > 15*time.Second {
			info := e.b.server.Info
			var denied float64
			for _, op := range []string{"publish", "subscribe_or_deliver", "retain"} {
				denied += testutil.ToFloat64(e.b.metrics.aclDenials.WithLabelValues(op))
			}
			return fmt.Errorf("stalled: %d of %d deliveries after 15 s without progress (queue drops %d, inflight drops %d, qos dropped %v, acl denials %v, publishes sent %d)\n%s",
				total, want*int64(n), atomic.LoadInt64(&info.MessagesDropped), atomic.LoadInt64(&info.InflightDropped),
				testutil.ToFloat64(e.b.metrics.qosDropped), denied, atomic.LoadInt64(&info.MessagesSent), e.b.flow.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range peers {
		_ = p.c.Disconnect(&paho.Disconnect{})
	}
	return nil
}

// TestStressFanIn is the USP traffic shape: many devices publishing
// Records to one controller inbox, at QoS 1 and at QoS 0 (obuspa's
// default). Every Record must arrive: at QoS 0 Mochi would drop what does
// not fit the controller's outbound queue, which is made small here (64)
// so that the devices fill it many times over.
func TestStressFanIn(t *testing.T) {
	for _, qos := range []byte{1, 0} {
		t.Run(fmt.Sprintf("QoS %d", qos), func(t *testing.T) { fanIn(t, qos) })
	}
}

func fanIn(t *testing.T, qos byte) {
	devices := envInt("CUTTLE_STRESS_DEVICES", 100)
	perDevice := envInt("CUTTLE_STRESS_DEVICE_MSGS", 20)
	e := startEnv(t, func(c *Config) {
		c.MaxConnectionsPerIP = devices + 10
		if qos == 0 {
			c.MaxPendingWrites = 64
		}
	})
	secC := e.addCred(creds.RoleController, ctlC, "")
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	if code := ctl.subscribe(t, "usp/v1/controller/"+ctlC, 1); code != codeGrantedQoS1 {
		t.Fatalf("subscribe: 0x%02x", code)
	}
	type dev struct {
		eid string
		c   *client
	}
	devs := make([]dev, devices)
	for i := range devs {
		eid := fmt.Sprintf("os::012345-FAN%05d", i)
		_, secret, err := e.store.Add(t.Context(), creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
		if err != nil {
			t.Fatal(err)
		}
		devs[i] = dev{eid: eid}
		e.waitFor(func() bool { _, ok := e.mirror.Lookup(eid); return ok }, eid)
		devs[i].c = e.mustDial(dialOpts{username: eid, password: secret})
	}
	seen := map[string]bool{}
	var mu sync.Mutex
	go func() {
		for m := range ctl.msgs {
			mu.Lock()
			seen[string(m.Payload)] = true
			mu.Unlock()
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, devices)
	for _, d := range devs {
		wg.Go(func() {
			for range perDevice {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				resp, err := d.c.Publish(ctx, &paho.Publish{Topic: "usp/v1/controller/" + ctlC, QoS: qos, Payload: record(t, d.eid, ctlC)})
				cancel()
				if err != nil || (resp != nil && resp.ReasonCode != 0) {
					errs <- fmt.Errorf("device %s: %v", d.eid, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := devices * perDevice
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			info := e.b.server.Info
			t.Fatalf("controller got %d of %d records (queue drops %d, inflight drops %d)", n, want,
				atomic.LoadInt64(&info.MessagesDropped), atomic.LoadInt64(&info.InflightDropped))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Every delivery counted into the controller's queue was counted out,
	// so it is not left busy with devices waiting on it.
	e.waitFor(func() bool {
		for _, cl := range e.b.server.Clients.GetAll() {
			if string(cl.Properties.Username) == ctlC {
				v, ok := e.b.flow.windows.Load(cl)
				q := int64(-1)
				if ok {
					q = v.(*window).queued.Load()
				}
				return q == 0 && !e.b.flow.isBusy(cl)
			}
		}
		return false
	}, "the controller's queue count back to zero")
	t.Logf("%d devices × %d QoS %d records → 1 controller in %v (flow waits %v, queue drops %d)", devices, perDevice, qos,
		time.Since(start).Round(time.Millisecond), testutil.ToFloat64(e.b.metrics.flowWaits), atomic.LoadInt64(&e.b.server.Info.MessagesDropped))
}
