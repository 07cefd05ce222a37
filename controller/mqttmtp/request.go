package mqttmtp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/controller/traffic"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// ContentType is the MQTT 5 Content Type of a USP Record (R-MQTT.27).
const ContentType = "usp.msg"

// contentTypeV11 is the Content Type of USP 1.1, still accepted
// (R-MQTT.27a).
const contentTypeV11 = "application/vnd.bbf.usp.msg"

// Do sends req to device endpointID in a no_session_context Record and
// waits for the response with the same msg_id from that device.
//
// It returns the response Msg, or an error: a USP Error response is a
// *usperr.Error (errors.As), returned with the Msg; a response of another
// type than the request calls for wraps ErrUnexpectedResponse; no answer
// before the deadline (ctx's or Config.Timeout, whichever is earlier)
// wraps ErrTimeout and context.DeadlineExceeded; a canceled ctx gives
// context.Canceled; no connection before the deadline, or a connection
// lost while waiting, wraps ErrNotConnected; after Run has returned,
// ErrClosed. Per-path failures inside a successful response (such as
// GetResp.Err) are the caller's to inspect.
func (c *Client) Do(ctx context.Context, endpointID string, req usp.Body) (usp.Message, error) {
	if req == nil {
		return usp.Message{}, fmt.Errorf("%w: nil body", ErrInvalidRequest)
	}
	typ := req.MsgType()
	want, ok := usp.ResponseType(typ)
	if !ok {
		return usp.Message{}, fmt.Errorf("%w: %v is not a request", ErrInvalidRequest, typ)
	}
	if op, ok := req.(*usp.Operate); ok && !op.SendResp {
		return usp.Message{}, fmt.Errorf("%w: an Operate without send_resp gets no response; use Send", ErrInvalidRequest)
	}
	start := time.Now()
	m, err := c.do(ctx, endpointID, req, typ, want)
	outcome := outcomeOf(err)
	c.metrics.requests.WithLabelValues(typ.String(), outcome).Inc()
	if outcome == outcomeOK || outcome == outcomeUSPError {
		c.metrics.latency.WithLabelValues(typ.String()).Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return m, fmt.Errorf("usp %v to %s: %w", typ, endpointID, err)
	}
	return m, nil
}

func (c *Client) do(ctx context.Context, eid string, req usp.Body, typ, want usp.MsgType) (usp.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	id := c.ids.Next()
	payload, err := c.marshal(eid, id, req)
	if err != nil {
		return usp.Message{}, err
	}
	l, err := c.connection(ctx)
	if err != nil {
		return usp.Message{}, err
	}
	defer l.bind(cancel)()
	// Register before publishing: the answer can overtake the PUBACK.
	p := &pending{eid: eid, want: want, done: make(chan outcome, 1)}
	if !c.pending.add(id, p) {
		return usp.Message{}, fmt.Errorf("msg_id %s is already pending", id)
	}
	topic := c.ReplyTopic(eid)
	if err := c.publish(ctx, l, eid, c.publishPacket(topic, l.inbox, l.qos, typ, payload, []byte(id))); err != nil {
		if c.pending.remove(id) == nil {
			// Completed meanwhile (answered, or failed by a lost
			// connection): that outcome is the better one.
			return result(<-p.done)
		}
		if ctx.Err() != nil {
			return usp.Message{}, ended(ctx, l, id)
		}
		return usp.Message{}, fmt.Errorf("publishing to %s: %w", topic, err)
	}
	select {
	case o := <-p.done:
		return result(o)
	case <-ctx.Done():
		if c.pending.remove(id) == nil {
			return result(<-p.done) // completed just now
		}
		return usp.Message{}, ended(ctx, l, id)
	}
}

// ended is the error of request id, sent on l, whose ctx ended before its
// answer: the connection's loss (see link.bind) or ctx's own end.
func ended(ctx context.Context, l *link, id string) error {
	if l.lost.Err() != nil {
		return fmt.Errorf("%w: connection lost waiting for msg_id %s", ErrNotConnected, id)
	}
	return ctxErr(ctx, id)
}

// result turns the outcome of a request into Do's return values.
func result(o outcome) (usp.Message, error) {
	var m usp.Message
	if o.in.Msg != nil {
		m = *o.in.Msg
	}
	if o.err != nil {
		return m, o.err
	}
	if err := m.Err(); err != nil {
		return m, err // a *usperr.Error
	}
	return m, nil
}

// ctxErr is the error of a request whose ctx ended before its answer.
func ctxErr(ctx context.Context, id string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (msg_id %s): %w", ErrTimeout, id, ctx.Err())
	}
	return ctx.Err()
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrTimeout):
		return outcomeTimeout
	case errors.Is(err, ErrNotConnected):
		return outcomeNotConnected
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, ErrUnexpectedResponse):
		return outcomeUnexpected
	case errors.As(err, new(*usperr.Error)):
		return outcomeUSPError
	}
	return outcomeFailed
}

// Send publishes body to device endpointID without waiting for an answer
// (an Operate with send_resp false, for instance) and returns its msg_id.
// It waits for a connection like Do. A response the device sends anyway
// reaches the Handler as an unknown msg_id.
func (c *Client) Send(ctx context.Context, endpointID string, body usp.Body) (string, error) {
	if body == nil {
		return "", fmt.Errorf("%w: nil body", ErrInvalidRequest)
	}
	id := c.ids.Next()
	err := c.send(ctx, endpointID, c.ReplyTopic(endpointID), id, body, []byte(id))
	return id, err
}

// Reply answers the request in with body (a NotifyResp to a Notify, or an
// Error): same msg_id, published on the Response Topic in came with (else
// the device's reply topic), echoing its Correlation Data.
func (c *Client) Reply(ctx context.Context, in Incoming, body usp.Body) error {
	switch {
	case in.Msg == nil || in.Record == nil:
		return fmt.Errorf("%w: Reply needs an incoming Msg", ErrInvalidRequest)
	case body == nil:
		return fmt.Errorf("%w: nil body", ErrInvalidRequest)
	case usp.Message{Body: body}.IsRequest():
		return fmt.Errorf("%w: a %v is not an answer", ErrInvalidRequest, body.MsgType())
	}
	topic := in.ResponseTopic
	if !concreteTopic(topic) {
		topic = c.ReplyTopic(in.Record.FromID)
	}
	return c.send(ctx, in.Record.FromID, topic, in.Msg.ID, body, in.CorrelationData)
}

func (c *Client) send(ctx context.Context, eid, topic, id string, body usp.Body, corr []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	payload, err := c.marshal(eid, id, body)
	if err != nil {
		return err
	}
	l, err := c.connection(ctx)
	if err != nil {
		return fmt.Errorf("usp %v to %s: %w", body.MsgType(), eid, err)
	}
	defer l.bind(cancel)()
	if err := c.publish(ctx, l, eid, c.publishPacket(topic, l.inbox, l.qos, body.MsgType(), payload, corr)); err != nil {
		return fmt.Errorf("usp %v to %s: publishing to %s: %w", body.MsgType(), eid, topic, err)
	}
	return nil
}

// marshal wraps body in a Record from us to eid.
func (c *Client) marshal(eid, id string, body usp.Body) ([]byte, error) {
	if eid == "" {
		return nil, fmt.Errorf("%w: empty endpoint ID", ErrInvalidRequest)
	}
	rec, err := usp.NewMsgRecord(c.cfg.EndpointID, eid, id, body)
	if err != nil {
		return nil, fmt.Errorf("encoding %v: %w", body.MsgType(), err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encoding %v record: %w", body.MsgType(), err)
	}
	return b, nil
}

// publish sends p, a Record to device eid, on l, and records it for the
// traffic inspector first: the answer can arrive before the PUBACK, and
// the request should be listed before it. A publish that fails is
// recorded again, with the error, so the inspector does not pass off as
// sent what never left.
func (c *Client) publish(ctx context.Context, l *link, eid string, p *paho.Publish) error {
	if c.cfg.Traffic == nil {
		return l.publish(ctx, p)
	}
	c.cfg.Traffic.Record(captureOf(traffic.Out, eid, p, time.Now()))
	err := l.publish(ctx, p)
	if err != nil {
		failed := captureOf(traffic.Out, eid, p, time.Now())
		failed.PublishError = err.Error()
		c.cfg.Traffic.Record(failed)
	}
	return err
}

// captureOf describes p for the traffic inspector; it copies no bytes.
func captureOf(dir traffic.Direction, eid string, p *paho.Publish, at time.Time) traffic.Capture {
	c := traffic.Capture{Time: at, Direction: dir, EndpointID: eid, Topic: p.Topic, QoS: p.QoS, Retain: p.Retain, Payload: p.Payload}
	if pp := p.Properties; pp != nil {
		c.ResponseTopic, c.CorrelationData, c.ContentType = pp.ResponseTopic, pp.CorrelationData, pp.ContentType
		if len(pp.User) > 0 {
			c.UserProperties = make([]traffic.UserProperty, len(pp.User))
			for i, u := range pp.User {
				c.UserProperties[i] = traffic.UserProperty{Key: u.Key, Value: u.Value}
			}
		}
	}
	return c
}

// publishPacket is a PUBLISH carrying a Record, with the properties of the
// USP MQTT binding (R-MQTT.22–27) and those that let generic MQTT tooling
// follow the conversation: Correlation Data and user properties naming the
// sender and the message type.
func (c *Client) publishPacket(topic, inbox string, qos byte, typ usp.MsgType, payload, corr []byte) *paho.Publish {
	return &paho.Publish{
		Topic:   topic,
		QoS:     qos,
		Payload: payload,
		Properties: &paho.PublishProperties{
			ResponseTopic:   inbox,
			CorrelationData: corr,
			ContentType:     ContentType,
			User: paho.UserProperties{
				{Key: "usp-endpoint-id", Value: c.cfg.EndpointID},
				{Key: "usp-msg-type", Value: typ.String()},
			},
		},
	}
}
