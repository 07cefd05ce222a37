// Package agent is one simulated device's USP agent, without any transport:
// it owns the device's TR-181 instantiated data model (built from a
// profile), answers every USP request the way TR-369 says (Handle), keeps
// the subscriptions Controllers create in Device.LocalAgent.Subscription and
// sends the notifications they ask for through an outbox, and moves simulated
// time forward (Tick): up-time, traffic counters, hosts and Wi-Fi clients
// coming and going, Periodic! events, firmware downloads, Notify retries.
//
// The MTP layer (MQTT in Cuttle) wraps it: it decodes Records, filters
// senders that are not known Controllers, calls Handle and sends the reply,
// sends what the outbox gets, and runs the reboot cycle (Rebooting,
// Rebooted).
//
// An Agent keeps its state small so that tens of thousands fit in one
// process: the schema is shared, values live in per-instance slices.
package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"cuttle/simulator/profile"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// Clock tells the agent the time; tests use a fake one.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Controller is a Controller the device knows (Device.LocalAgent.Controller.{i}).
type Controller struct {
	EndpointID string
	// Topic is the Controller's MQTT topic
	// (Controller.{i}.MTP.1.MQTT.Topic), where notifications go.
	Topic string
}

// Config configures one agent. Zero values mean defaults.
type Config struct {
	// EndpointID is the agent's USP endpoint ID, e.g. "os::00D09E-HGW000001"
	// (required; profile.EndpointID gives the conventional one).
	EndpointID string
	// Profile is the kind of device (default: the built-in home gateway).
	// It must be valid (profile.Builtin, Load and Parse validate; a Profile
	// built by hand needs Validate) and is shared, never copied or changed.
	Profile *profile.Profile
	// Index is the device's position in the fleet; with Seed it decides the
	// device's own values.
	Index int
	Seed  uint64
	// Controllers are the Controllers the device knows.
	Controllers []Controller
	// Clock gives the time (default: the system clock).
	Clock Clock
	// Outbox sends a Notify to the Controller with the given endpoint ID. The
	// message ID is chosen by the agent, because a NotifyResp is matched to
	// its Notify by msg_id. It is called without the agent's lock held, after
	// the call (Handle, Tick...) that produced the notification has finished
	// its work, and may be nil to drop notifications.
	Outbox func(to string, m usp.Message)
	// Logger receives debug logs (default: discarded).
	Logger *slog.Logger
}

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("invalid agent config")

var defaultProfile = sync.OnceValues(func() (*profile.Profile, error) {
	return profile.Builtin(profile.DefaultName)
})

var discard = slog.New(slog.DiscardHandler)

// Agent is one simulated device's USP agent. Its methods are safe for
// concurrent use.
type Agent struct {
	eid    string
	prof   *profile.Profile
	dev    profile.Device
	clock  Clock
	outbox func(to string, m usp.Message)
	log    *slog.Logger

	mu sync.Mutex // guards every field below
	// root is Device., the instantiated data model.
	root *node
	rnd  *rand.Rand
	// now is the time of the current call; booted is when the device last
	// booted; lastTick is the time simulation last advanced to.
	now, booted, lastTick time.Time
	// subs caches the parsed Subscription table; subsDirty says it must be
	// rebuilt, hasVC that some enabled subscription is a ValueChange one.
	subs      []*sub
	subsDirty bool
	hasVC     bool
	// out holds notifications produced by the current call.
	out []outMsg
	// retries holds notifications sent with send_resp=true and not yet
	// acknowledged.
	retries []*retry
	// ops holds the running asynchronous commands.
	ops []*op
	// periodic holds each Controller's next Periodic! time.
	periodic      []periodic
	periodicDirty bool
	reboot        rebootState
	// undo records how to revert the changes of the current message while
	// inTx (allow_partial=false and R-SET.2a are all-or-nothing).
	undo []func()
	inTx bool
}

// New builds an agent and its data model from cfg.
func New(cfg Config) (*Agent, error) {
	if cfg.EndpointID == "" {
		return nil, fmt.Errorf("%w: EndpointID is required", ErrConfig)
	}
	if cfg.Profile == nil {
		p, err := defaultProfile()
		if err != nil {
			return nil, err
		}
		cfg.Profile = p
	}
	seen := make(map[string]bool, len(cfg.Controllers))
	for i, c := range cfg.Controllers {
		if c.EndpointID == "" {
			return nil, fmt.Errorf("%w: controller %d has no EndpointID", ErrConfig, i)
		}
		if seen[c.EndpointID] {
			return nil, fmt.Errorf("%w: controller %q listed twice", ErrConfig, c.EndpointID)
		}
		seen[c.EndpointID] = true
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	a := &Agent{
		eid:    cfg.EndpointID,
		prof:   cfg.Profile,
		dev:    cfg.Profile.Device(cfg.Index, cfg.Seed),
		clock:  cfg.Clock,
		outbox: cfg.Outbox,
		log:    cfg.Logger,
	}
	a.rnd = rand.New(rand.NewPCG(a.dev.Seed, uint64(cfg.Index)))
	now := cfg.Clock.Now()
	a.now, a.booted, a.lastTick = now, now, now
	a.root = a.build(cfg.Controllers)
	a.subsDirty, a.periodicDirty = true, true
	return a, nil
}

// EndpointID returns the agent's endpoint ID.
func (a *Agent) EndpointID() string { return a.eid }

// SupportedVersions are the USP versions the agent speaks.
var SupportedVersions = []string{"1.0", "1.1", "1.2", "1.3", "1.4"}

// Handle processes one USP message from the endpoint from and returns the
// body to send back: a response, an *usp.ErrorMsg, or nil when nothing is to
// be sent (Operate with send_resp=false, NotifyResp, responses and Errors).
// Notifications the request causes (a ValueChange after a Set, an
// ObjectCreation after an Add) go to the outbox before Handle returns.
func (a *Agent) Handle(from string, m usp.Message) usp.Body {
	a.mu.Lock()
	a.refresh(a.clock.Now())
	reply := a.dispatch(from, m)
	out := a.takeOut()
	a.mu.Unlock()
	a.send(out)
	return reply
}

func (a *Agent) dispatch(from string, m usp.Message) usp.Body {
	switch b := m.Body.(type) {
	case *usp.Get:
		return a.handleGet(b)
	case *usp.Set:
		return a.handleSet(b)
	case *usp.Add:
		return a.handleAdd(from, b)
	case *usp.Delete:
		return a.handleDelete(b)
	case *usp.Operate:
		return a.handleOperate(from, b)
	case *usp.GetSupportedDM:
		return a.handleGetSupportedDM(b)
	case *usp.GetInstances:
		return a.handleGetInstances(b)
	case *usp.GetSupportedProtocol:
		return &usp.GetSupportedProtocolResp{Versions: SupportedVersions}
	case *usp.NotifyResp:
		a.acknowledged(m.ID)
		return nil
	case *usp.Notify, *usp.Register, *usp.Deregister:
		// Requests an agent never receives (R-MSG.1: ignore or answer 7001).
		return &usp.ErrorMsg{Err: usperr.New(usperr.MessageNotSupported, "an agent does not accept %v", m.Type())}
	}
	// Responses and Errors: the agent sends no requests other than Notify,
	// so there is nothing to match them with.
	return nil
}

// refresh brings the clock-driven values up to now: up-time and local time.
func (a *Agent) refresh(now time.Time) {
	if now.Before(a.now) {
		now = a.now // a clock going backwards does not undo up-time
	}
	a.now = now
	up := uptime(a.booted, now)
	a.setName(a.root.child("DeviceInfo"), "UpTime", up)
	a.setName(a.root.child("LocalAgent"), "UpTime", up)
	a.setName(a.root.child("Time"), "CurrentLocalTime", now.UTC().Truncate(time.Second).Format(time.RFC3339))
}

func uptime(booted, now time.Time) string {
	d := now.Sub(booted)
	if d < 0 {
		d = 0
	}
	return fmt.Sprint(int64(d / time.Second))
}

// debug logs an event of this device.
func (a *Agent) debug(msg string, args ...any) {
	a.log.Debug(msg, append([]any{"component", "simulator/agent", "endpoint", a.eid}, args...)...)
}

// outMsg is a notification waiting to be handed to the outbox.
type outMsg struct {
	to  string
	msg usp.Message
	// retry is set for a first transmission with send_resp=true; it joins
	// Agent.retries once the call that made it has committed.
	retry *retry
}

// takeOut removes the pending notifications and starts tracking the new
// ones that need acknowledging.
func (a *Agent) takeOut() []outMsg {
	out := a.out
	a.out = nil
	for _, o := range out {
		if o.retry != nil {
			a.retries = append(a.retries, o.retry)
		}
	}
	return out
}

func (a *Agent) send(out []outMsg) {
	if a.outbox == nil {
		return
	}
	for _, o := range out {
		a.outbox(o.to, o.msg)
	}
}

// locked runs fn under the lock and then sends what it produced.
func (a *Agent) locked(fn func()) {
	a.mu.Lock()
	fn()
	out := a.takeOut()
	a.mu.Unlock()
	a.send(out)
}
