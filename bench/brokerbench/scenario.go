package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// scenario is one traffic shape at one QoS.
type scenario struct {
	fanIn bool
	qos   byte
}

func (s scenario) String() string {
	dir := "fan-out"
	if s.fanIn {
		dir = "fan-in"
	}
	return fmt.Sprintf("%s QoS %d", dir, s.qos)
}

// flagName is the scenario's name in -scenarios, e.g. "fan-in-1".
func (s scenario) flagName() string {
	if s.fanIn {
		return fmt.Sprintf("fan-in-%d", s.qos)
	}
	return fmt.Sprintf("fan-out-%d", s.qos)
}

var scenarios = []scenario{{true, 0}, {true, 1}, {false, 0}, {false, 1}}

// load sizes a scenario run.
type load struct {
	devices   int           // the fleet
	perDevice int           // Records each device sends (fan-in) or receives (fan-out)
	lanes     int           // publishing goroutines per device at QoS 1
	ctlLanes  int           // publishing goroutines of the controller (fan-out)
	rate      float64       // offered Records per second over all lanes; 0: as fast as they go
	settle    time.Duration // give up this long after the last delivery
	timeout   time.Duration // give up this long after the first publish
}

// result is what one run of one scenario against one target measured.
type result struct {
	target   *target
	scenario scenario
	expected int // Records published
	pubFails int // publishes that failed or were refused
	firstErr string
	tally    tallyResult
	elapsed  time.Duration // first publish to last delivery
	// cpu is the CPU time the broker and the clients used during the run
	// (target.cpu), from the first publish until the run ended.
	cpu time.Duration
	// counters are the broker's own counters' increase during the run
	// (brokerCounters); nil when the broker does not report them.
	counters map[string]float64
	err      error // the run could not be carried out
}

// rate is the delivered messages per second.
func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.tally.unique) / r.elapsed.Seconds()
}

func (r result) lost() int { return r.expected - r.tally.unique }

// cpuPerMsg is the CPU time used per delivered message, or 0.
func (r result) cpuPerMsg() time.Duration {
	if r.tally.unique == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.tally.unique)
}

// tally counts one run's deliveries at the receivers: unique Records,
// duplicates and end-to-end latencies.
type tally struct {
	run       int
	perDevice int
	count     atomic.Int64 // unique deliveries, for progress polling

	mu      sync.Mutex // guards the fields below
	seen    []bool     // by dev*perDevice+seq
	unique  int
	dups    int
	stale   int // Records of an earlier run arriving late
	invalid int
	lastErr string
	lat     []time.Duration
	last    time.Time
}

type tallyResult struct {
	unique, dups, stale, invalid int
	lastErr                      string
	p50, p99                     time.Duration
	last                         time.Time
}

func newTally(run, devices, perDevice int) *tally {
	return &tally{run: run, perDevice: perDevice, seen: make([]bool, devices*perDevice), lat: make([]time.Duration, 0, devices*perDevice)}
}

// add records one delivery that arrived at at. wantDev < 0 accepts any
// device; otherwise the Record must be for that device.
func (t *tally) add(p *paho.Publish, at time.Time, wantDev int) {
	r, err := parseStamped(p.Payload)
	if err == nil && r.run != t.run {
		t.mu.Lock()
		t.stale++
		t.mu.Unlock()
		return
	}
	if err == nil && (r.dev < 0 || r.seq < 0 || r.seq >= t.perDevice || r.dev*t.perDevice+r.seq >= len(t.seen)) {
		err = fmt.Errorf("%w: device %d seq %d out of range", errNotBench, r.dev, r.seq)
	}
	switch {
	case err != nil:
	case wantDev >= 0 && r.dev != wantDev:
		err = fmt.Errorf("device %d received a Record for device %d", wantDev, r.dev)
	case wantDev < 0 && r.fromID != deviceID(r.dev):
		err = fmt.Errorf("a Record of device %d arrived with from_id %q", r.dev, r.fromID)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.invalid++
		t.lastErr = err.Error()
		return
	}
	i := r.dev*t.perDevice + r.seq
	if t.seen[i] {
		t.dups++
		return
	}
	t.seen[i] = true
	t.unique++
	t.count.Add(1)
	t.lat = append(t.lat, at.Sub(r.sent))
	if at.After(t.last) {
		t.last = at
	}
}

func (t *tally) result() tallyResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	lat := slices.Clone(t.lat)
	slices.Sort(lat)
	return tallyResult{unique: t.unique, dups: t.dups, stale: t.stale, invalid: t.invalid, lastErr: t.lastErr,
		p50: percentile(lat, 50), p99: percentile(lat, 99), last: t.last}
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// runner runs scenarios against targets with one controller and one fleet.
type runner struct {
	ctl     identity
	devices []identity
	load    load
	log     *slog.Logger
	runs    int // runs so far, to tell a late Record from the current run's
}

// session is the controller and the fleet connected to one target, each
// subscribed to its inbox at QoS 1 (a QoS 0 publish is delivered at QoS 0).
// Receivers report to the current run's tally.
type session struct {
	t       *target
	ctl     *client
	fleet   []*client
	current atomic.Pointer[tally]
	connect time.Duration // how long the fleet took to connect
}

// connect brings the controller and the fleet up on t.
func (r *runner) connect(ctx context.Context, t *target) (*session, error) {
	s := &session{t: t}
	opts := dialOpts{addr: t.addr, login: t.login, keepAlive: 60}
	ctlOpts := opts
	ctlOpts.onMsg = func(p *paho.Publish, at time.Time) {
		if tl := s.current.Load(); tl != nil {
			tl.add(p, at, -1)
		}
	}
	var err error
	if s.ctl, err = dial(ctx, r.ctl, ctlOpts); err != nil {
		return nil, fmt.Errorf("%s: connecting the controller: %w", t.name, err)
	}
	if err := s.ctl.subscribe(ctx, controllerTopic(r.ctl.eid), 1); err != nil {
		s.close()
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	onMsg := func(i int) func(*paho.Publish, time.Time) {
		return func(p *paho.Publish, at time.Time) {
			if tl := s.current.Load(); tl != nil {
				tl.add(p, at, i)
			}
		}
	}
	start := time.Now()
	s.fleet, err = connectAll(ctx, r.devices[:r.load.devices], opts, onMsg, func(id identity) string { return agentTopic(id.eid) }, 1)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("%s: connecting the fleet: %w", t.name, err)
	}
	s.connect = time.Since(start)
	r.log.Debug("fleet connected", "target", t.name, "devices", len(s.fleet), "took", s.connect.Round(time.Millisecond))
	return s, nil
}

func (s *session) close() {
	disconnectAll(append(s.fleet, s.ctl))
}

// outMsg is one Record ready to publish.
type outMsg struct {
	stamped
	topic string
	n     int // position in the run's round-robin order, for -rate pacing
}

// lane is one publishing goroutine's share of a run.
type lane struct {
	c    *client
	msgs []outMsg
}

// lanes encodes every Record of a run before the clock starts and deals
// them out to publishing goroutines: fan-in gives each device one lane at
// QoS 0 and -lanes at QoS 1, fan-out gives the controller -ctl-lanes. The
// run's order (which -rate paces) goes round the fleet one sequence number
// at a time.
func (r *runner) lanes(s *session, sc scenario, run int) ([]lane, error) {
	l := r.load
	var out []lane
	if sc.fanIn {
		per := 1
		if sc.qos > 0 {
			per = l.lanes
		}
		for d, c := range s.fleet {
			for k := range per {
				ln := lane{c: c}
				for seq := k; seq < l.perDevice; seq += per {
					m, err := newStamped(c.id.eid, r.ctl.eid, run, d, seq, true)
					if err != nil {
						return nil, err
					}
					ln.msgs = append(ln.msgs, outMsg{m, controllerTopic(r.ctl.eid), seq*l.devices + d})
				}
				out = append(out, ln)
			}
		}
		return out, nil
	}
	out = make([]lane, l.ctlLanes)
	for k := range out {
		out[k].c = s.ctl
	}
	for n := range l.devices * l.perDevice {
		seq, d := n/l.devices, n%l.devices
		m, err := newStamped(r.ctl.eid, s.fleet[d].id.eid, run, d, seq, false)
		if err != nil {
			return nil, err
		}
		out[n%l.ctlLanes].msgs = append(out[n%l.ctlLanes].msgs, outMsg{m, agentTopic(s.fleet[d].id.eid), n})
	}
	return out, nil
}

// run sends one scenario's traffic over s and waits for it to arrive.
func (r *runner) run(ctx context.Context, s *session, sc scenario) result {
	r.runs++
	run := r.runs
	l := r.load
	res := result{target: s.t, scenario: sc, expected: l.devices * l.perDevice}
	lanes, err := r.lanes(s, sc, run)
	if err != nil {
		res.err = err
		return res
	}
	tl := newTally(run, l.devices, l.perDevice)
	s.current.Store(tl)

	var before map[string]float64
	if s.t.counters != nil {
		before = s.t.counters()
	}
	var (
		wg      sync.WaitGroup
		fails   atomic.Int64
		errOnce sync.Once
		start   = make(chan struct{})
	)
	runCtx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	var began time.Time
	for _, ln := range lanes {
		wg.Go(func() {
			<-start
			for _, m := range ln.msgs {
				if runCtx.Err() != nil {
					fails.Add(1)
					continue
				}
				if l.rate > 0 {
					time.Sleep(time.Until(began.Add(time.Duration(float64(m.n) / l.rate * float64(time.Second)))))
				}
				resp, err := ln.c.Publish(runCtx, &paho.Publish{Topic: m.topic, QoS: sc.qos, Payload: m.stamp(time.Now())})
				if err == nil && resp != nil && resp.ReasonCode >= 0x80 {
					err = fmt.Errorf("PUBACK reason 0x%02x", resp.ReasonCode)
				}
				if err != nil {
					fails.Add(1)
					errOnce.Do(func() { res.firstErr = fmt.Sprintf("%s publishing: %v", ln.c.id.eid, err) })
				}
			}
		})
	}
	var cpu0 time.Duration
	if s.t.cpu != nil {
		cpu0 = s.t.cpu()
	}
	began = time.Now()
	close(start)
	wg.Wait()
	published := time.Since(began)
	res.pubFails = int(fails.Load())

	// Wait for the deliveries: until all have arrived, or nothing has
	// arrived for the settle time, or the run's time is up. (The broker's
	// queue-drop counter does not end the wait: Cuttle writes a delivery
	// that missed the queue past it, so a drop is no longer a loss.)
	want := int64(res.expected - res.pubFails)
	last, lastChange := tl.count.Load(), time.Now()
	for n := last; n < want && runCtx.Err() == nil; n = tl.count.Load() {
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > l.settle {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s.t.cpu != nil {
		res.cpu = s.t.cpu() - cpu0
	}
	res.tally = tl.result()
	if !res.tally.last.IsZero() {
		res.elapsed = res.tally.last.Sub(began)
	}
	if s.t.counters != nil {
		res.counters = s.t.counters()
		for k, v := range before {
			res.counters[k] -= v
		}
	}
	r.log.Info("run done", "target", s.t.name, "scenario", sc.String(), "expected", res.expected,
		"delivered", res.tally.unique, "publish_s", published.Seconds(), "msgs_per_s", int(res.rate()),
		"p50", res.tally.p50, "p99", res.tally.p99, "broker_counters", res.counters)
	return res
}
