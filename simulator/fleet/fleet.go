// Package fleet is the MQTT 5 transport (MTP) of the device simulator: it
// turns simulator/agent agents, which know nothing of the network, into
// devices that connect to a broker the way TR-369's MQTT binding says. Each
// device has its own MQTT connection (paho.golang), learns its inbox from
// the CONNACK, subscribes, sends the mqtt_connect Record to its Controllers,
// answers requests on their Response Topic, publishes the agent's
// notifications, and goes through the reboot cycle (disconnect, boot,
// reconnect, Boot!).
//
// A Fleet keeps tens of thousands of devices in one process: connection
// attempts share a few workers and a rate limiter, reconnects wait on
// runtime timers rather than goroutines, and simulated time moves on a few
// shared tickers.
package fleet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/simulator/agent"
	"cuttle/simulator/profile"
)

// Defaults, chosen for a laptop simulating a large fleet against one broker.
const (
	DefaultRate           = 200 // connection attempts per second
	DefaultTickInterval   = time.Second
	DefaultKeepAlive      = 60 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultBootDelay      = 3 * time.Second
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = time.Minute
	DefaultReceiveMaximum = 16
	// DefaultController is the Controller devices know when none is
	// configured: the one `cuttle up` runs.
	DefaultController = "self::cuttle-controller"
	// DefaultTopicPrefix is the root of the USP topics.
	DefaultTopicPrefix = "usp/v1"
)

// DeviceConfig is one simulated device's identity and credentials.
type DeviceConfig struct {
	// EndpointID is the device's USP endpoint ID (required).
	EndpointID string
	// Index decides the device's own values with Config.Seed (serial
	// number, MACs, firmware...); 0 means its position in Config.Devices
	// plus one.
	Index int
	// Username and Secret authenticate the device; an empty Username with a
	// Secret means the endpoint ID, as `cuttle creds` names devices.
	Username, Secret string
	// ClientCert is presented on mqtts:// and wss:// connections (mTLS).
	ClientCert *tls.Certificate
}

// Config configures a Fleet. Zero values mean the defaults above.
type Config struct {
	// Brokers are the servers to connect to, tried in order: a device that
	// fails to connect moves on to the next one. Schemes: mqtt:// (TCP,
	// default port 1883), mqtts:// (TLS, 8883), ws:// and wss://
	// (WebSocket; give the path, usually /mqtt).
	Brokers []string
	// Devices are the devices to simulate (at least one).
	Devices []DeviceConfig
	// Profile is the kind of device (default: the built-in home gateway).
	Profile *profile.Profile
	// Seed makes a fleet's values reproducible.
	Seed uint64
	// Controllers are the Controllers every device knows: the only senders
	// whose Records are accepted, and where notifications go. Default: one,
	// DefaultController, at <TopicPrefix>/controller/<its endpoint ID>.
	Controllers []agent.Controller
	// TopicPrefix builds the default Controller's topic and expands
	// "{prefix}" in ResponseTopic; default "usp/v1".
	TopicPrefix string
	// ResponseTopic is the device's configured reply-to topic
	// (Device.LocalAgent.MTP.{i}.MQTT.ResponseTopicConfigured), used when
	// the broker's CONNACK names none; "{eid}" is replaced by the endpoint
	// ID. Empty: a device whose broker names no topic stops (R-MQTT.16).
	ResponseTopic string
	// Rate is how many connection attempts per second the fleet makes in
	// total, for the first connections and for reconnects alike.
	Rate float64
	// TickInterval is how often each device's simulated time moves.
	TickInterval time.Duration
	// QoS of the Records devices publish: 0 or 1 (default 1). It is
	// lowered to the broker's Maximum QoS.
	QoS *byte
	// KeepAlive is the MQTT keep-alive (R-MQTT.14); default 60s.
	KeepAlive time.Duration
	// ConnectTimeout bounds dialling, CONNECT and SUBSCRIBE.
	ConnectTimeout time.Duration
	// BootDelay is the mean time a rebooting device stays off; each boot
	// takes between 2/3 and 5/3 of it (default 3s: 2–5 s).
	BootDelay time.Duration
	// BackoffBase and BackoffMax bound the wait before a reconnect: the
	// n-th consecutive failure waits a random time up to
	// min(BackoffMax, BackoffBase·2^(n-1)) ("full jitter").
	BackoffBase, BackoffMax time.Duration
	// ReceiveMaximum is how many QoS 1 messages the broker may have unacknowledged
	// towards a device (default 16). paho sizes a queue by it per
	// connection, so it is kept small.
	ReceiveMaximum uint16
	// TLS is the base configuration of mqtts:// and wss:// connections
	// (roots, server name); nil uses the system roots.
	TLS *tls.Config
	// Logger receives the fleet's logs (default: discarded).
	Logger *slog.Logger
	// Registerer receives the fleet's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

// ErrConfig is wrapped by New's configuration errors.
var ErrConfig = errors.New("invalid fleet config")

func configErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

// Schemes Config.Brokers may use.
var schemes = map[string]bool{"mqtt": true, "tcp": true, "mqtts": true, "ssl": true, "tls": true, "ws": true, "wss": true}

// setDefaults fills zero values and validates c; errors name the field.
func (c *Config) setDefaults() error {
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	c.TopicPrefix = strings.TrimSuffix(c.TopicPrefix, "/")
	if len(c.Controllers) == 0 {
		c.Controllers = []agent.Controller{{EndpointID: DefaultController}}
	}
	for i := range c.Controllers {
		ctrl := &c.Controllers[i]
		if ctrl.EndpointID == "" {
			return configErr(fmt.Sprintf("controllers[%d]", i), "an endpoint ID is required")
		}
		if ctrl.Topic == "" {
			ctrl.Topic = c.TopicPrefix + "/controller/" + ctrl.EndpointID
		}
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	setDuration(&c.TickInterval, DefaultTickInterval)
	setDuration(&c.KeepAlive, DefaultKeepAlive)
	setDuration(&c.ConnectTimeout, DefaultConnectTimeout)
	setDuration(&c.BootDelay, DefaultBootDelay)
	setDuration(&c.BackoffBase, DefaultBackoffBase)
	setDuration(&c.BackoffMax, DefaultBackoffMax)
	if c.QoS == nil {
		one := byte(1)
		c.QoS = &one
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = DefaultReceiveMaximum
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Profile == nil {
		p, err := profile.Builtin(profile.DefaultName)
		if err != nil {
			return err
		}
		c.Profile = p
	}
	switch {
	case len(c.Brokers) == 0:
		return configErr("brokers", "at least one broker URL is required")
	case len(c.Devices) == 0:
		return configErr("devices", "at least one device is required")
	case c.Rate < 0:
		return configErr("rate", "must be positive")
	case *c.QoS > 1:
		return configErr("qos", "must be 0 or 1")
	case c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second:
		return configErr("keep_alive", "must be between 1s and 65535s")
	case c.TickInterval < 0 || c.ConnectTimeout < 0 || c.BootDelay < 0 || c.BackoffBase < 0 || c.BackoffMax < c.BackoffBase:
		return configErr("durations", "must be positive, and backoff_max at least backoff_base")
	case strings.ContainsAny(strings.ReplaceAll(c.ResponseTopic, "{eid}", ""), "+#"):
		return configErr("response_topic", "%q must be a topic, not a filter", c.ResponseTopic)
	}
	for i, b := range c.Brokers {
		if _, err := parseBroker(b); err != nil {
			return configErr(fmt.Sprintf("brokers[%d]", i), "%v", err)
		}
	}
	seen := make(map[string]bool, len(c.Devices))
	for i, d := range c.Devices {
		switch {
		case d.EndpointID == "":
			return configErr(fmt.Sprintf("devices[%d]", i), "an endpoint ID is required")
		case seen[d.EndpointID]:
			return configErr(fmt.Sprintf("devices[%d]", i), "endpoint ID %q listed twice", d.EndpointID)
		}
		seen[d.EndpointID] = true
	}
	return nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// parseBroker checks one broker URL.
func parseBroker(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	switch {
	case !schemes[strings.ToLower(u.Scheme)]:
		return nil, fmt.Errorf("%q: unknown scheme (want mqtt://, mqtts://, ws:// or wss://)", s)
	case u.Hostname() == "":
		return nil, fmt.Errorf("%q: no host", s)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

// Fleet is a set of simulated devices connected to MQTT brokers.
type Fleet struct {
	cfg     Config
	log     *slog.Logger
	brokers []*url.URL
	// ctrls maps each known Controller's endpoint ID to its topic; it is
	// shared by every device and never changes.
	ctrls   map[string]string
	devices []*device
	qos     byte
	pacer   *pacer
	// queue holds devices waiting for a connection attempt; its capacity
	// is the number of devices, and a device is in it at most once, so
	// sends never block.
	queue   chan *device
	workers int
	stats   counters
	// refused holds the Controllers whose Connect Record the broker
	// refused, to warn once about each.
	refused sync.Map

	started atomic.Bool

	mu      sync.Mutex // guards closing and the Add calls of async
	closing bool
	async   sync.WaitGroup // disconnects for reboots in progress
}

// New builds the fleet and every device's agent and data model. Nothing
// connects until Run.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	f := &Fleet{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "simulator/fleet"),
		ctrls: make(map[string]string, len(cfg.Controllers)),
		qos:   *cfg.QoS,
		pacer: newPacer(cfg.Rate),
		queue: make(chan *device, len(cfg.Devices)),
		// Enough workers to keep the rate up when each attempt waits a few
		// round trips on a distant broker.
		workers: max(4, min(256, int(cfg.Rate/2))),
	}
	for _, b := range cfg.Brokers {
		u, _ := parseBroker(b) // validated by setDefaults
		f.brokers = append(f.brokers, u)
	}
	for _, c := range cfg.Controllers {
		f.ctrls[c.EndpointID] = c.Topic
	}
	f.devices = make([]*device, len(cfg.Devices))
	for i, dc := range cfg.Devices {
		if dc.Index == 0 {
			dc.Index = i + 1
		}
		if dc.Username == "" && dc.Secret != "" {
			dc.Username = dc.EndpointID
		}
		d := &device{f: f, cfg: dc}
		a, err := agent.New(agent.Config{
			EndpointID:  dc.EndpointID,
			Profile:     cfg.Profile,
			Index:       dc.Index,
			Seed:        cfg.Seed,
			Controllers: cfg.Controllers,
			Outbox:      d.notify,
			Logger:      cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", dc.EndpointID, err)
		}
		d.agent = a
		f.devices[i] = d
	}
	f.stats.states[stateIdle].Store(int64(len(f.devices)))
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&collector{f: f}); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return f, nil
}

// Agent returns the agent of the device with the given endpoint ID, or nil.
func (f *Fleet) Agent(endpointID string) *agent.Agent {
	for _, d := range f.devices {
		if d.cfg.EndpointID == endpointID {
			return d.agent
		}
	}
	return nil
}

// Run connects every device, paced by Config.Rate, keeps them connected and
// ticking until ctx ends, then disconnects them (R-MQTT.35) and returns. It
// may be called once.
func (f *Fleet) Run(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("fleet: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.log.Info("fleet starting", "devices", len(f.devices), "brokers", f.cfg.Brokers, "rate", f.cfg.Rate)
	for _, d := range f.devices {
		d.mu.Lock()
		d.setState(stateConnecting)
		d.mu.Unlock()
		f.queue <- d
	}
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() { f.connector(ctx) })
	}
	wg.Go(func() { f.runTicks(ctx) })
	<-ctx.Done()
	stopping := time.Now()
	wg.Wait()

	f.mu.Lock()
	f.closing = true
	f.mu.Unlock()
	f.async.Wait()
	// Disconnect in parallel: each paho shutdown waits for its goroutines.
	sem := make(chan struct{}, 256)
	var dw sync.WaitGroup
	for _, d := range f.devices {
		if s := d.stop(); s != nil {
			sem <- struct{}{}
			dw.Go(func() {
				defer func() { <-sem }()
				d.leave(s, "shutting down")
			})
		}
	}
	dw.Wait()
	f.log.Info("fleet stopped", "took", time.Since(stopping).Round(time.Millisecond))
	return nil
}

// goAsync runs fn in a goroutine Run waits for, unless Run is finishing.
func (f *Fleet) goAsync(fn func()) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return false
	}
	f.async.Go(fn)
	return true
}

// enqueue puts d in line for a connection attempt.
func (f *Fleet) enqueue(d *device) {
	select {
	case f.queue <- d:
	default:
		// Cannot happen: the queue holds every device once.
		f.log.Error("connect queue full", "endpoint_id", d.cfg.EndpointID)
	}
}

// connector takes devices off the queue and connects them, one connection
// attempt per pacer slot.
func (f *Fleet) connector(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-f.queue:
			if err := f.pacer.wait(ctx); err != nil {
				return
			}
			d.connect(ctx)
		}
	}
}

// runTicks moves every device's simulated time on one ticker: each tick
// serves one slot of devices, so a TickInterval covers them all and the
// work is spread evenly.
func (f *Fleet) runTicks(ctx context.Context) {
	const minStep = 10 * time.Millisecond
	slots := 10
	step := f.cfg.TickInterval / time.Duration(slots)
	if step < minStep {
		step = minStep
		slots = max(1, int(f.cfg.TickInterval/minStep))
	}
	t := time.NewTicker(step)
	defer t.Stop()
	for k := 0; ; k = (k + 1) % slots {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		for i := k; i < len(f.devices); i += slots {
			f.devices[i].tick(now)
		}
	}
}
