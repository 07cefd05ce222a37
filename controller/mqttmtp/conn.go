package mqttmtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"

	"cuttle/internal/pahoconn"
)

// The connection loop is written on paho directly rather than autopaho:
// it subscribes before it declares the connection usable, drops a
// connection whose SUBSCRIBE fails (R-MQTT.17), backs off across
// connections that come up and die at once (a session taken over by a
// second client with the same ID would otherwise spin), and fails the
// requests in flight the moment a connection is lost.

// stableAfter is how long a connection must last for the backoff to start
// again from ReconnectMin.
const stableAfter = 10 * time.Second

// Run connects to the brokers in order, subscribes to the inbox and keeps
// reconnecting with exponential backoff and jitter until ctx ends; then it
// disconnects, fails the pending requests with ErrClosed, lets the handler
// workers finish their queues and returns nil. Run may be called once.
func (c *Client) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("mqttmtp: Run called twice")
	}
	var wg sync.WaitGroup
	c.workers.run(&wg)
	defer func() {
		// No connection is left, so nothing dispatches any more.
		close(c.closed)
		c.pending.failAll(ErrClosed)
		c.workers.stop()
		wg.Wait()
		c.log.Info("client stopped")
	}()

	failures := 0
	for {
		for i, u := range c.brokers {
			up, err := c.session(ctx, u)
			if ctx.Err() != nil {
				return nil
			}
			if up >= stableAfter {
				failures = 0
			}
			if up > 0 {
				c.log.Warn("connection to broker lost", "broker", u.Redacted(), "after", up.Round(time.Millisecond), "error", err)
				break // back off, then start again with the first broker
			}
			c.log.Warn("cannot connect to broker", "broker", u.Redacted(), "error", err, "trying_next", i+1 < len(c.brokers))
		}
		d := c.backoff(failures)
		failures++
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// backoff returns the delay before round n+1 of connection attempts:
// ReconnectMin·2ⁿ capped at ReconnectMax, drawn uniformly from its upper
// half so that controllers restarted together do not reconnect together.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.ReconnectMin
	for i := 0; i < n && d < c.cfg.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.ReconnectMax)
	return d/2 + rand.N(d/2+1)
}

// session makes one connection to u and serves it until it ends or ctx
// does. It returns how long the connection was usable (0 if it never
// was) and why it ended.
func (c *Client) session(ctx context.Context, u *url.URL) (time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn, err := c.dial(cctx, u)
	if err != nil {
		return 0, err
	}
	lost := make(chan error, 1)
	cli := paho.NewClient(paho.ClientConfig{
		Conn:              conn,
		Session:           pahoconn.NewSession(),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){c.onPublish},
		OnClientError: func(err error) {
			select {
			case lost <- err:
			default:
			}
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			err := fmt.Errorf("broker sent DISCONNECT 0x%02x", d.ReasonCode)
			if d.Properties != nil && d.Properties.ReasonString != "" {
				err = fmt.Errorf("%w: %s", err, d.Properties.ReasonString)
			}
			select {
			case lost <- err:
			default:
			}
		},
		PacketTimeout: c.cfg.ConnectTimeout,
	})
	ca, err := cli.Connect(cctx, c.connectPacket())
	if err != nil {
		if ca != nil {
			return 0, fmt.Errorf("CONNECT refused with 0x%02x: %w", ca.ReasonCode, err)
		}
		return 0, fmt.Errorf("CONNECT: %w", err)
	}
	inbox, filter := c.inboxFor(ca)
	if err := c.subscribe(cctx, cli, filter); err != nil {
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-cli.Done()
		return 0, err
	}
	maxQoS := byte(2)
	if ca.Properties != nil {
		if ca.Properties.MaximumQoS != nil {
			maxQoS = *ca.Properties.MaximumQoS
		}
		if id := ca.Properties.AssignedClientID; id != "" {
			c.mu.Lock()
			c.assignedID = id
			c.mu.Unlock()
		}
	}

	start := time.Now()
	c.setConnected(cli, inbox, maxQoS)
	c.log.Info("connected", "broker", u.Redacted(), "client_id", cli.ClientID(), "inbox", inbox, "subscription", filter)
	var cause error
	select {
	case <-cli.Done():
		select {
		case cause = <-lost:
		default:
			cause = errors.New("connection closed")
		}
	case <-ctx.Done():
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-cli.Done()
	}
	up := time.Since(start)
	c.setDisconnected(up)
	return up, cause
}

// connectPacket builds the CONNECT of R-MQTT.6–13: credentials, the
// endpoint ID as a user property, and a request for Response Information.
// The session is not kept (Clean Start, no expiry): a response that
// arrives while the controller is away is lost either way, because the
// requests waiting for it fail when the connection drops.
func (c *Client) connectPacket() *paho.Connect {
	c.mu.Lock()
	id := c.cfg.ClientID
	if id == "" {
		id = c.assignedID
	}
	c.mu.Unlock()
	cp := &paho.Connect{
		ClientID:   id,
		KeepAlive:  uint16(c.cfg.KeepAlive / time.Second),
		CleanStart: true,
		Properties: &paho.ConnectProperties{
			RequestResponseInfo: true,
			User:                paho.UserProperties{{Key: "usp-endpoint-id", Value: c.cfg.EndpointID}},
		},
	}
	if c.cfg.Username != "" {
		cp.Username, cp.UsernameFlag = c.cfg.Username, true
	}
	if c.cfg.Password != "" {
		cp.Password, cp.PasswordFlag = []byte(c.cfg.Password), true
	}
	return cp
}

// inboxFor returns the inbox topic (the Response Topic of our publishes)
// and the filter to subscribe to it.
func (c *Client) inboxFor(ca *paho.Connack) (inbox, filter string) {
	inbox = c.cfg.Inbox
	if inbox == "" && ca.Properties != nil {
		if concreteTopic(ca.Properties.ResponseInfo) {
			inbox = ca.Properties.ResponseInfo
		} else if t := ca.Properties.User.Get("subscribe-topic"); concreteTopic(t) {
			inbox = t
		}
	}
	if inbox == "" {
		inbox = c.cfg.TopicPrefix + "/controller/" + c.cfg.EndpointID
	}
	filter = inbox
	if c.cfg.SharedGroup != "" {
		filter = "$share/" + c.cfg.SharedGroup + "/" + inbox
	}
	return inbox, filter
}

func (c *Client) subscribe(ctx context.Context, cli *paho.Client, filter string) error {
	sa, err := cli.Subscribe(ctx, &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}},
		Properties:    &paho.SubscribeProperties{User: paho.UserProperties{{Key: "usp-endpoint-id", Value: c.cfg.EndpointID}}},
	})
	if sa != nil && len(sa.Reasons) == 1 && sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("SUBSCRIBE %s refused with 0x%02x", filter, sa.Reasons[0])
	}
	if err != nil {
		return fmt.Errorf("SUBSCRIBE %s: %w", filter, err)
	}
	return nil
}

func (c *Client) setConnected(cli *paho.Client, inbox string, maxQoS byte) {
	ctx, cancel := context.WithCancel(context.Background())
	// Counted before the link is published: a request woken by close(c.up)
	// can be answered before this goroutine runs again.
	c.metrics.connects.Inc()
	c.metrics.connected.Set(1)
	c.mu.Lock()
	c.link = &link{cli: cli, inbox: inbox, qos: min(c.cfg.QoS, maxQoS), lost: ctx}
	c.lose = cancel
	close(c.up)
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
}

// setDisconnected clears the connection, fails the requests waiting for an
// answer, which can no longer arrive, and then wakes the publishes still
// waiting for a PUBACK on it.
func (c *Client) setDisconnected(up time.Duration) {
	c.mu.Lock()
	lose := c.lose
	c.link, c.lose = nil, nil
	c.up = make(chan struct{})
	c.mu.Unlock()
	c.metrics.connected.Set(0)
	if n := c.pending.failAll(fmt.Errorf("%w: connection lost after %s", ErrNotConnected, up.Round(time.Millisecond))); n > 0 {
		c.log.Warn("connection lost with requests in flight", "requests", n)
	}
	lose()
}

// link is one live connection.
type link struct {
	cli *paho.Client
	// inbox is the subscribed topic: the Response Topic of our publishes.
	inbox string
	// qos is Config.QoS lowered to the broker's Maximum QoS.
	qos byte
	// lost ends when the connection does.
	lost context.Context
}

// publish sends p and waits for its PUBACK (QoS 1) until ctx ends. ctx
// must end when the connection does (see bind): paho would keep waiting
// for the PUBACK of a dead connection until its packet timeout, to resend
// the message on a resumed session, which this client never resumes.
func (l *link) publish(ctx context.Context, p *paho.Publish) error {
	_, err := l.cli.Publish(ctx, p)
	if err != nil && (l.lost.Err() != nil || errors.Is(err, session.ErrNoConnection)) {
		return fmt.Errorf("%w: connection lost while publishing: %w", ErrNotConnected, err)
	}
	return err
}

// bind makes the connection's loss call cancel, which ends the context of
// a request sent on it, until the returned stop is called.
func (l *link) bind(cancel context.CancelFunc) (stop func() bool) {
	return context.AfterFunc(l.lost, cancel)
}

// connection returns the live connection, waiting for one until ctx
// ends. A deadline that passes while waiting gives ErrNotConnected.
func (c *Client) connection(ctx context.Context) (*link, error) {
	for {
		c.mu.Lock()
		l, up := c.link, c.up
		c.mu.Unlock()
		if l != nil {
			return l, nil
		}
		select {
		case <-c.closed:
			return nil, ErrClosed
		default:
		}
		select {
		case <-up:
		case <-c.closed:
			return nil, ErrClosed
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%w (waited until the deadline): %w", ErrNotConnected, ctx.Err())
			}
			return nil, ctx.Err()
		}
	}
}

// dial opens the network connection for u.
func (c *Client) dial(ctx context.Context, u *url.URL) (net.Conn, error) {
	var conn net.Conn
	var err error
	switch u.Scheme {
	case "mqtt", "tcp":
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	case "mqtts", "tls", "ssl":
		d := tls.Dialer{Config: c.cfg.TLS}
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	case "ws", "wss":
		ws, err := dialWebSocket(ctx, u, c.cfg.TLS)
		if err != nil {
			return nil, err
		}
		return newPacketConn(ws, false), nil
	default:
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newPacketConn(conn, true), nil
}
