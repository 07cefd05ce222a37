package jobs

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/controller"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
	"cuttle/simulator/fleet"
	"cuttle/simulator/profile"
	"cuttle/usp"
)

const ctlEID = "self::cuttle-controller"

// stack is NATS, the broker, a controller and simulated devices, all
// real, on 127.0.0.1, as in controller_test.go. The controller and the
// devices can be stopped and started again; the rest lives until the
// test ends.
type stack struct {
	t         testing.TB
	js        jetstream.JetStream
	url       string
	ctlSecret string
	eids      []string
	secrets   map[string]string

	// settled is the share of online devices waitStatus wants described;
	// zero means all.
	settled float64
	// profile is the devices' profile; nil means the fleet's default.
	profile *profile.Profile
	// fleetQoS is the QoS of the Records devices publish; nil means the
	// fleet's default (1).
	fleetQoS *byte
	// stopController stops the controller startStack started.
	stopController func()

	mu  sync.Mutex // guards ctl
	ctl *controller.Controller
}

// startStack starts everything but the devices, and registers n device
// credentials.
func startStack(t testing.TB, n int) *stack {
	t.Helper()
	return startStackWith(t, n, nil)
}

// startStackWith is startStack with the broker's configuration changed
// by mod.
func startStackWith(t testing.TB, n int, mod func(*broker.Config)) *stack {
	t.Helper()
	cs := credstest.Start(t, creds.MirrorConfig{})
	js, store, mirror := cs.JS, cs.Store, cs.Mirror
	ctx := t.Context()
	cfg := broker.Config{
		Listeners:   []broker.ListenerConfig{{Name: "tcp", Addr: "127.0.0.1:0"}},
		Credentials: mirror, Presence: brokertest.Presence(t, js),
		// Every device connects from 127.0.0.1.
		MaxConnectionsPerIP: 1_000_000,
		Lockout:             lockout.Config{MaxFailures: 1_000_000},
	}
	if mod != nil {
		mod(&cfg)
	}
	b := brokertest.Run(t, cfg)

	s := &stack{t: t, js: js, url: "mqtt://" + b.Addr("tcp"), secrets: map[string]string{}}
	var err error
	_, s.ctlSecret, err = store.Add(ctx, creds.AddRequest{Role: creds.RoleController, EndpointID: ctlEID})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		eid := fmt.Sprintf("os::00D09E-JOB%05d", i+1)
		_, secret, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
		if err != nil {
			t.Fatal(err)
		}
		s.eids = append(s.eids, eid)
		s.secrets[eid] = secret
	}
	t.Logf("%d device credentials stored", n)
	testutil.Eventually(t, 20*time.Second, "credentials in the broker's mirror", func() bool {
		_, ok := mirror.Lookup(s.eids[len(s.eids)-1])
		return ok && mirror.HasController(ctlEID)
	})
	s.stopController = s.startController()
	return s
}

// startController starts a controller and returns a function that stops
// it and waits for it.
func (s *stack) startController() (stop func()) {
	t := s.t
	t.Helper()
	ctl, err := controller.New(t.Context(), controller.Config{
		MTP:            mqttmtp.Config{Brokers: []string{s.url}, Username: ctlEID, Password: s.ctlSecret, Timeout: 30 * time.Second},
		JetStream:      s.js,
		RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop = testutil.Run(t, "controller", 15*time.Second, ctl.Run)
	select {
	case <-ctl.MTP().Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("the controller did not connect")
	}
	s.mu.Lock()
	s.ctl = ctl
	s.mu.Unlock()
	return stop
}

func (s *stack) controller() *controller.Controller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctl
}

// startFleet connects the given devices and waits until the inventory
// shows them online and described; stop disconnects them.
func (s *stack) startFleet(eids []string) (stop func()) {
	t := s.t
	t.Helper()
	var devs []fleet.DeviceConfig
	for _, eid := range eids {
		devs = append(devs, fleet.DeviceConfig{EndpointID: eid, Secret: s.secrets[eid]})
	}
	cfg := fleetConfig(s.url, s.profile, devs)
	cfg.QoS = s.fleetQoS
	f, err := fleet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop = testutil.Run(t, "fleet", 15*time.Second, f.Run)
	start := time.Now()
	s.waitStatus(eids, inventory.StatusOnline, 20*time.Second+time.Duration(len(eids))*10*time.Millisecond)
	t.Logf("%d devices online after %s", len(eids), time.Since(start).Round(time.Millisecond))
	return stop
}

// fleetConfig is the configuration of the simulated devices, in this
// process or in a benchmark's fleet process: quick to connect and to boot.
func fleetConfig(url string, p *profile.Profile, devs []fleet.DeviceConfig) fleet.Config {
	return fleet.Config{Brokers: []string{url}, Devices: devs, Rate: 2000, Profile: p,
		BootDelay: 200 * time.Millisecond, TickInterval: time.Second}
}

// waitStatus waits until the inventory shows every device in eids with
// the given status and, online, with its DeviceInfo and subscriptions, so
// that the controller's work on new devices is over. A fleet of thousands
// on a busy machine may leave a few devices undescribed (the controller
// does not retry); settled is the share that must be described.
func (s *stack) waitStatus(eids []string, status string, within time.Duration) {
	s.t.Helper()
	inv := s.controller().Inventory()
	settled := s.settled
	if settled == 0 {
		settled = 1
	}
	testutil.Eventually(s.t, within, fmt.Sprintf("%d devices %s", len(eids), status), func() bool {
		described := 0
		for _, eid := range eids {
			d, ok := inv.Get(eid)
			if !ok || d.Status != status {
				return false
			}
			if d.SerialNumber != "" && d.Subscribed {
				described++
			}
		}
		return status != inventory.StatusOnline || float64(described) >= settled*float64(len(eids))
	})
}

// startManager starts a Manager on the stack's NATS. cfg's USP and
// Inventory default to the current controller's; stop ends Run and waits.
func (s *stack) startManager(cfg Config) (m *Manager, stop func()) {
	t := s.t
	t.Helper()
	cfg.JetStream = s.js
	if cfg.USP == nil {
		cfg.USP = s.controller().MTP()
	}
	if cfg.Inventory == nil {
		cfg.Inventory = s.controller().Inventory()
	}
	m, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, testutil.Run(t, "jobs", 15*time.Second, m.Run)
}

// await follows a job until it ends and returns it.
func await(t testing.TB, m *Manager, id string, within time.Duration) Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ch, err := m.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var last Job
	for j := range ch {
		last = j
	}
	if !last.Final() {
		t.Fatalf("job %s did not end within %s: %+v", id, within, last)
	}
	return last
}

// allResults reads every result of a job, a page at a time.
func allResults(t testing.TB, m *Manager, id string, statuses ...string) []Result {
	t.Helper()
	var out []Result
	cursor := ""
	for range 1000 {
		page, err := m.Results(context.Background(), id, statuses, 100, cursor)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Results...)
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
	t.Fatal("results never end")
	return nil
}

// tappedUSP wraps the controller's USP client: it can slow every request
// down, and counts the requests that got an answer, by device.
type tappedUSP struct {
	next  func() USPClient // the current controller's client
	delay time.Duration

	calls    atomic.Int64
	mu       sync.Mutex // guards answered and asked
	answered map[string]int
	asked    map[string]int // requests per device
}

func newTap(s *stack, delay time.Duration) *tappedUSP {
	return &tappedUSP{next: func() USPClient { return s.controller().MTP() }, delay: delay, answered: map[string]int{}, asked: map[string]int{}}
}

func (u *tappedUSP) Do(ctx context.Context, eid string, req usp.Body) (usp.Message, error) {
	u.calls.Add(1)
	u.mu.Lock()
	u.asked[eid]++
	u.mu.Unlock()
	if u.delay > 0 {
		t := time.NewTimer(u.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return usp.Message{}, ctx.Err()
		case <-t.C:
		}
	}
	m, err := u.next().Do(ctx, eid, req)
	if err == nil {
		u.mu.Lock()
		u.answered[eid]++
		u.mu.Unlock()
	}
	return m, err
}

func (u *tappedUSP) answers() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.answered)
}

// requests returns how many requests each device was sent.
func (u *tappedUSP) requests() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return maps.Clone(u.asked)
}

// liveInventory answers from the current controller's inventory.
type liveInventory struct{ s *stack }

func (l liveInventory) Get(eid string) (inventory.Device, bool) {
	return l.s.controller().Inventory().Get(eid)
}

func (l liveInventory) Query(q inventory.Query) (inventory.Page, error) {
	return l.s.controller().Inventory().Query(q)
}
