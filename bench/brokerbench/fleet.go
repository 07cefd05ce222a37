package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// controllerID is the endpoint ID of the one controller in every scenario.
const controllerID = "self::bench-ctl"

// Timeouts that bound every network step of the harness.
const (
	dialTimeout    = 10 * time.Second
	publishTimeout = 30 * time.Second
	connectWorkers = 16 // concurrent CONNECTs while a fleet comes up
)

// identity is one endpoint and, once provisioned, its broker credential.
type identity struct {
	eid    string
	secret string // "" until provisioned
}

func deviceID(i int) string { return fmt.Sprintf("os::012345-BENCH%06d", i) }

func agentTopic(eid string) string      { return "usp/v1/agent/" + eid }
func controllerTopic(eid string) string { return "usp/v1/controller/" + eid }

// client is one paho MQTT 5 client on its own TCP connection.
type client struct {
	*paho.Client
	id identity
}

// dialOpts says how a client connects.
type dialOpts struct {
	addr      string
	login     bool   // send the identity's username and secret
	keepAlive uint16 // seconds
	// onMsg, when set, receives every PUBLISH with its arrival time. It runs
	// on the client's single receive goroutine; for QoS 1 the PUBACK is sent
	// when it returns.
	onMsg func(p *paho.Publish, at time.Time)
}

// dial opens a connection and completes CONNECT, with the identity's
// endpoint ID as client ID (the binding the broker enforces).
func dial(ctx context.Context, id identity, o dialOpts) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.addr)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: publishTimeout}
	if o.onMsg != nil {
		on := o.onMsg
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			on(pr.Packet, time.Now())
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: id.eid, KeepAlive: o.keepAlive, CleanStart: true}
	if o.login {
		cp.Username, cp.UsernameFlag = id.eid, true
		cp.Password, cp.PasswordFlag = []byte(id.secret), true
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			return nil, fmt.Errorf("%s refused with reason 0x%02x %s", id.eid, ca.ReasonCode, reasonString(ca))
		}
		return nil, fmt.Errorf("%s: %w", id.eid, err)
	}
	return &client{Client: c, id: id}, nil
}

func reasonString(ca *paho.Connack) string {
	if ca.Properties != nil {
		return ca.Properties.ReasonString
	}
	return ""
}

// subscribe subscribes c to topic and fails unless the broker grants qos.
func (c *client) subscribe(ctx context.Context, topic string, qos byte) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}})
	if err != nil {
		return fmt.Errorf("%s subscribing to %s: %w", c.id.eid, topic, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] != qos {
		return fmt.Errorf("%s subscribing to %s: SUBACK %v, want QoS %d", c.id.eid, topic, sa.Reasons, qos)
	}
	return nil
}

// connectAll connects one client per identity with a few CONNECTs in flight
// at a time, and subscribes each to subTopic(id) when subTopic is set. On
// error every client already connected is disconnected.
func connectAll(ctx context.Context, ids []identity, o dialOpts, onMsg func(i int) func(*paho.Publish, time.Time), subTopic func(identity) string, qos byte) ([]*client, error) {
	out := make([]*client, len(ids))
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards firstErr
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(connectWorkers, len(ids)) {
		wg.Go(func() {
			for i := range next {
				oi := o
				if onMsg != nil {
					oi.onMsg = onMsg(i)
				}
				c, err := dial(ctx, ids[i], oi)
				if err == nil && subTopic != nil {
					if err = c.subscribe(ctx, subTopic(ids[i]), qos); err != nil {
						_ = c.Disconnect(&paho.Disconnect{})
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				out[i] = c
			}
		})
	}
feed:
	for i := range ids {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		disconnectAll(out)
		return nil, firstErr
	}
	return out, nil
}

// disconnectAll sends DISCONNECT on every non-nil client and waits for
// their goroutines, a few at a time.
func disconnectAll(cs []*client) {
	next := make(chan *client)
	var wg sync.WaitGroup
	for range connectWorkers {
		wg.Go(func() {
			for c := range next {
				_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
			}
		})
	}
	for _, c := range cs {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
}

// writeSecrets writes "endpoint-id secret" lines to a new file, readable by
// its owner only, for the idle-client child process.
func writeSecrets(path string, ids []identity) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, id := range ids {
		fmt.Fprintf(w, "%s %s\n", id.eid, id.secret)
	}
	return errors.Join(w.Flush(), f.Close())
}

// readSecrets reads what writeSecrets wrote.
func readSecrets(path string) ([]identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []identity
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		eid, secret, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return nil, fmt.Errorf("%s: malformed line %q", path, sc.Text())
		}
		ids = append(ids, identity{eid: eid, secret: secret})
	}
	return ids, sc.Err()
}
