package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/internal/pahoconn"
	"cuttle/simulator/agent"
	"cuttle/usp"
)

// state is where a device is in its connection life.
type state uint8

const (
	stateIdle       state = iota // built, Run not started
	stateConnecting              // waiting for or in a connection attempt
	stateConnected               // subscribed, Connect Records sent
	stateRetrying                // waiting to retry after a failure
	stateBooting                 // off for a simulated reboot
	stateDisabled                // MTP disabled: the broker named no topic (R-MQTT.16)
	stateStopped                 // Run is over
	numStates
)

// device is one simulated device: its agent and its MQTT connection. It
// owns no goroutine: connection attempts run on the fleet's workers,
// reconnects wait on runtime timers, the agent ticks on the fleet's ticker,
// and requests are handled on paho's goroutines of the live connection.
type device struct {
	f     *Fleet
	cfg   DeviceConfig
	agent *agent.Agent
	// busy is held while a request is handled and answered, or while the
	// device ticks, so that a reboot the request asked for starts only
	// after its response went out.
	busy sync.Mutex

	mu    sync.Mutex // guards the fields below
	state state
	// sess is the live connection, set from a successful CONNACK until the
	// connection is lost or closed.
	sess *session
	// broker is the index of the broker to try next.
	broker int
	// clientID is the Assigned Client Identifier from brokers[idFrom],
	// reused on every later connection to it (R-MQTT.9).
	clientID string
	idFrom   int
	// failures counts consecutive failed attempts, for the backoff.
	failures int
	// timer waits for the next attempt.
	timer *time.Timer
	// powered says the device has connected once since the process
	// started; rebooting that a reboot finishes with the next connection.
	powered, rebooting bool
}

// session is one MQTT connection of a device.
type session struct {
	client *paho.Client
	// inbox is the device's reply-to topic, the Response Topic of every
	// Record it publishes.
	inbox string
	qos   byte
	// ready is closed when the connection is set up or has failed; up
	// says it is set up (subscribed, Connect Records sent), so Records may
	// be published and received ones handled (R-MTP.6, R-MQTT.17).
	ready chan struct{}
	up    atomic.Bool
	// lost is set, under the device's lock, once the connection is gone.
	lost bool
}

// setState moves d to s, keeping the fleet's counts; d.mu must be held.
func (d *device) setState(s state) {
	d.f.stats.states[d.state].Add(-1)
	d.f.stats.states[s].Add(1)
	d.state = s
}

// errNoTopic is the CONNACK naming no topic to subscribe to.
var errNoTopic = errors.New("the broker named no topic in CONNACK (no Response Information, no subscribe-topic) and none is configured")

// connect makes one connection attempt; it runs on a connector worker.
func (d *device) connect(ctx context.Context) {
	f := d.f
	d.mu.Lock()
	if d.state != stateConnecting {
		d.mu.Unlock()
		return
	}
	bi := d.broker
	clientID := ""
	if d.idFrom == bi {
		clientID = d.clientID
	}
	d.mu.Unlock()

	f.stats.attempts.Add(1)
	s, assigned, err := d.open(ctx, bi, clientID)
	if err != nil {
		if ctx.Err() == nil {
			f.stats.failures.Add(1)
			f.stats.setLastError(fmt.Sprintf("%s: %v", f.brokers[bi].Redacted(), err))
			f.log.Debug("connect failed", "endpoint_id", d.cfg.EndpointID, "broker", f.brokers[bi].Redacted(), "error", err)
		}
		d.failed(bi, errors.Is(err, errNoTopic))
		return
	}

	d.mu.Lock()
	if assigned != "" {
		d.clientID, d.idFrom = assigned, bi
	}
	if s.lost || d.state != stateConnecting || ctx.Err() != nil {
		// Lost already, or the fleet is stopping.
		d.mu.Unlock()
		close(s.ready)
		_ = s.client.Disconnect(&paho.Disconnect{})
		if ctx.Err() == nil {
			d.failed(bi, false)
		}
		return
	}
	d.sess = s
	d.mu.Unlock()

	// R-MTP.6: the Connect Record goes to each Controller before any other
	// Record; requests that arrive meanwhile wait for ready.
	for _, c := range f.cfg.Controllers {
		d.connectRecord(ctx, s, c)
	}
	d.mu.Lock()
	// Lost meanwhile (lost scheduled a retry), or the fleet is stopping
	// (stop takes the connection).
	up := d.sess == s && d.state == stateConnecting
	var rebooting, first bool
	if up {
		d.setState(stateConnected)
		d.failures = 0
		rebooting, first = d.rebooting, !d.powered
		d.rebooting, d.powered = false, true
	}
	d.mu.Unlock()
	s.up.Store(up)
	close(s.ready)
	if !up {
		return
	}
	f.stats.connects.Add(1)
	switch {
	case rebooting:
		d.agent.Rebooted() // Boot! with the reboot's cause
	case first:
		d.agent.BootNotifies(usp.CauseLocalReboot, "", false) // powered on
	}
}

// open dials broker bi, connects and subscribes, and returns the session
// and the client ID the broker assigned, if any.
func (d *device) open(ctx context.Context, bi int, clientID string) (*session, string, error) {
	f := d.f
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ConnectTimeout)
	defer cancel()
	nc, err := f.dial(ctx, f.brokers[bi], d.cfg.ClientCert)
	if err != nil {
		return nil, "", err
	}
	s := &session{ready: make(chan struct{}), qos: f.qos}
	s.client = paho.NewClient(paho.ClientConfig{
		Conn:    nc,
		Session: pahoconn.NewSession(),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			d.receive(s, pr.Packet)
			return true, nil
		}},
		OnClientError:      func(err error) { d.lost(s, err) },
		OnServerDisconnect: func(p *paho.Disconnect) { d.lost(s, disconnectError(p)) },
		PacketTimeout:      f.cfg.ConnectTimeout,
	})
	receiveMax := f.cfg.ReceiveMaximum
	cp := &paho.Connect{
		ClientID:   clientID, // empty at first: the broker assigns one (R-MQTT.8)
		KeepAlive:  uint16(f.cfg.KeepAlive / time.Second),
		CleanStart: true,
		Properties: &paho.ConnectProperties{
			RequestResponseInfo: true, // R-MQTT.12
			ReceiveMaximum:      &receiveMax,
			User:                paho.UserProperties{{Key: "usp-endpoint-id", Value: d.cfg.EndpointID}}, // R-MQTT.13
		},
	}
	if d.cfg.Username != "" {
		cp.Username, cp.UsernameFlag = d.cfg.Username, true
	}
	if d.cfg.Secret != "" {
		cp.Password, cp.PasswordFlag = []byte(d.cfg.Secret), true
	}
	ca, err := s.client.Connect(ctx, cp)
	if err != nil {
		_ = nc.Close()
		if ca != nil {
			return nil, "", fmt.Errorf("CONNECT refused: %s", reasonText(ca.ReasonCode, ca.Properties))
		}
		return nil, "", err
	}
	var assigned string
	inbox, topics := d.topics(ca)
	if ca.Properties != nil {
		assigned = ca.Properties.AssignedClientID
		if ca.Properties.MaximumQoS != nil && *ca.Properties.MaximumQoS < s.qos {
			s.qos = *ca.Properties.MaximumQoS
		}
	}
	if inbox == "" {
		// R-MQTT.16: nothing to subscribe to; the MTP is disabled.
		close(s.ready)
		_ = s.client.Disconnect(&paho.Disconnect{})
		return nil, "", errNoTopic
	}
	s.inbox = inbox
	sub := &paho.Subscribe{Properties: &paho.SubscribeProperties{User: paho.UserProperties{{Key: "usp-endpoint-id", Value: d.cfg.EndpointID}}}}
	for _, t := range topics {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: 1})
	}
	if _, err := s.client.Subscribe(ctx, sub); err != nil {
		// R-MQTT.17: without a subscription, publish nothing and leave.
		close(s.ready)
		_ = s.client.Disconnect(&paho.Disconnect{})
		return nil, "", fmt.Errorf("SUBSCRIBE %v: %w", topics, err)
	}
	return s, assigned, nil
}

// topics returns the reply-to topic and the topics to subscribe to
// (R-MQTT.15): CONNACK Response Information is the reply-to topic
// (R-MQTT.21), else the configured one, else a subscribe-topic; every
// subscribe-topic is subscribed to as well.
func (d *device) topics(ca *paho.Connack) (inbox string, topics []string) {
	var info string
	var hints []string
	if ca.Properties != nil {
		info = ca.Properties.ResponseInfo
		hints = ca.Properties.User.GetAll("subscribe-topic")
	}
	configured := ""
	if t := d.f.cfg.ResponseTopic; t != "" {
		configured = strings.ReplaceAll(strings.ReplaceAll(t, "{eid}", d.cfg.EndpointID), "{prefix}", d.f.cfg.TopicPrefix)
	}
	add := func(t string) {
		if t != "" && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	for _, h := range hints {
		add(h)
	}
	switch {
	case info != "":
		inbox = info
	case configured != "":
		inbox = configured
	default:
		for _, h := range hints {
			if !strings.ContainsAny(h, "+#") {
				inbox = h
				break
			}
		}
	}
	add(inbox)
	return inbox, topics
}

// connectRecord sends the mqtt_connect Record to Controller c and waits for
// the broker's acknowledgement, so that a refusal (a Controller the broker
// does not know) shows in the logs.
func (d *device) connectRecord(ctx context.Context, s *session, c agent.Controller) {
	f := d.f
	rec := usp.NewMQTTConnectRecord(d.cfg.EndpointID, c.EndpointID, s.inbox)
	b, err := rec.Marshal()
	if err != nil {
		f.log.Error("encoding mqtt_connect record", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.ConnectTimeout)
	defer cancel()
	resp, err := s.client.Publish(ctx, f.publishPacket(s, c.Topic, b, nil))
	switch {
	case resp != nil && resp.ReasonCode >= 0x80:
		msg := fmt.Sprintf("broker refused the Connect Record to %s: %s", c.EndpointID, reasonText(resp.ReasonCode, nil))
		f.stats.setLastError(msg)
		if _, warned := f.refused.LoadOrStore(c.EndpointID, true); !warned {
			f.log.Warn(msg+"; is the Controller provisioned? Devices may only publish to Controllers the broker knows",
				"endpoint_id", d.cfg.EndpointID, "controller", c.EndpointID, "topic", c.Topic)
		}
	case err != nil:
		f.log.Debug("sending mqtt_connect", "endpoint_id", d.cfg.EndpointID, "controller", c.EndpointID, "error", err)
	default:
		f.stats.records.Add(1)
	}
}

// failed schedules the next attempt after a failed one. A device whose
// broker names no topic is disabled instead (R-MQTT.16).
func (d *device) failed(bi int, disabled bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != stateConnecting {
		return
	}
	if disabled {
		d.setState(stateDisabled)
		d.f.log.Warn("MQTT MTP disabled", "endpoint_id", d.cfg.EndpointID, "reason", errNoTopic)
		return
	}
	d.failures++
	if len(d.f.brokers) > 1 {
		d.broker = (bi + 1) % len(d.f.brokers) // fail over
	}
	d.setState(stateRetrying)
	d.after(backoff(d.failures, d.f.cfg.BackoffBase, d.f.cfg.BackoffMax))
}

// lost handles the end of a connection: paho reports errors and server
// DISCONNECTs, also of connections the device closed itself, which are no
// longer d.sess and are ignored.
func (d *device) lost(s *session, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.lost = true
	if d.sess != s {
		return
	}
	d.sess = nil
	d.f.stats.disconnects.Add(1)
	d.f.log.Debug("connection lost", "endpoint_id", d.cfg.EndpointID, "error", err)
	d.failures++
	d.setState(stateRetrying)
	d.after(backoff(d.failures, d.f.cfg.BackoffBase, d.f.cfg.BackoffMax))
}

// after queues d for a connection attempt once wait has passed; d.mu must
// be held and d be retrying or booting.
func (d *device) after(wait time.Duration) {
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		if d.state != stateRetrying && d.state != stateBooting {
			d.mu.Unlock()
			return
		}
		d.setState(stateConnecting)
		d.mu.Unlock()
		d.f.enqueue(d)
	})
}

// startReboot carries out a reboot the agent asked for (Reboot(),
// FactoryReset(), Activate()): leave, stay off for the boot time, then
// connect again and let the agent send Boot!.
func (d *device) startReboot() {
	d.mu.Lock()
	if d.state != stateConnected {
		d.mu.Unlock()
		return
	}
	d.rebooting = true
	d.setState(stateBooting)
	d.mu.Unlock()
	d.f.stats.reboots.Add(1)
	d.f.log.Debug("rebooting", "endpoint_id", d.cfg.EndpointID)
	// Leaving waits for the connection's goroutines, one of which may be
	// the caller. If the fleet is stopping, stop takes the connection.
	d.f.goAsync(func() {
		d.mu.Lock()
		s := d.sess
		if d.state != stateBooting {
			s = nil // lost meanwhile: a retry is already scheduled
		}
		d.sess = nil
		d.mu.Unlock()
		if s == nil {
			return
		}
		d.leave(s, "rebooting")
		bd := d.f.cfg.BootDelay
		wait := bd*2/3 + rand.N(bd*2/3+1)
		d.mu.Lock()
		if d.state == stateBooting {
			d.after(wait)
		}
		d.mu.Unlock()
	})
}

// leave says goodbye to every Controller with a DisconnectRecord (R-MTP.7)
// and closes the connection with DISCONNECT (R-MQTT.35). It waits for the
// broker's PUBACKs first: Mochi acknowledges a QoS 1 PUBLISH before it
// delivers it and drops it if the client is already gone, and the broker
// handles a client's packets in order, so this also flushes the response
// that asked for a reboot.
func (d *device) leave(s *session, reason string) {
	if s.up.Load() {
		for _, c := range d.f.cfg.Controllers {
			rec := usp.NewDisconnectRecord(d.cfg.EndpointID, c.EndpointID, reason, 0)
			b, err := rec.Marshal()
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if _, err := s.client.Publish(ctx, d.f.publishPacket(s, c.Topic, b, nil)); err == nil {
				d.f.stats.records.Add(1)
			}
			cancel()
		}
	}
	_ = s.client.Disconnect(&paho.Disconnect{ReasonCode: 0})
}

// stop ends d's life at the end of Run and returns its live connection,
// if any, for the caller to close.
func (d *device) stop() *session {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.setState(stateStopped)
	s := d.sess
	d.sess = nil
	return s
}

// live returns d's connection if Records may be published on it.
func (d *device) live() *session {
	d.mu.Lock()
	s := d.sess
	d.mu.Unlock()
	if s == nil || !s.up.Load() {
		return nil
	}
	return s
}

// tick moves d's simulated time, unless it is off, and starts a reboot
// that a finished operation (Activate()) asked for.
func (d *device) tick(now time.Time) {
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	switch st {
	case stateBooting, stateStopped, stateDisabled:
		return
	}
	if !d.busy.TryLock() {
		return // handling a request; the next tick catches up
	}
	defer d.busy.Unlock()
	d.agent.Tick(now)
	if st == stateConnected {
		if pending, _ := d.agent.Rebooting(); pending {
			d.startReboot()
		}
	}
}

// disconnectError describes a server DISCONNECT.
func disconnectError(p *paho.Disconnect) error {
	if p == nil {
		return errors.New("server disconnected")
	}
	return fmt.Errorf("server disconnected: %s", reasonText(p.ReasonCode, nil))
}

// reasonText formats an MQTT reason code with the server's reason string.
func reasonText(code byte, props *paho.ConnackProperties) string {
	s := fmt.Sprintf("reason 0x%02X", code)
	if name, ok := reasonNames[code]; ok {
		s += " " + name
	}
	if props != nil && props.ReasonString != "" {
		s += ": " + props.ReasonString
	}
	return s
}

var reasonNames = map[byte]string{
	0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
	0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
	0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
	0x8E: "session taken over", 0x97: "quota exceeded", 0x9F: "connection rate exceeded",
}
