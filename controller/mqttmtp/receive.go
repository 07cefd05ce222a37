package mqttmtp

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/controller/traffic"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// onPublish is paho's callback for every PUBLISH on the inbox. It runs on
// the connection's single read loop, so it never blocks for long: a
// response completes its request through a buffered channel, and other
// Records are queued for the Handler.
func (c *Client) onPublish(pr paho.PublishReceived) (bool, error) {
	c.receive(pr.Packet, time.Now())
	return true, nil
}

// receive processes one received PUBLISH. Nothing a device sends can make
// it panic or block other devices; what is wrong is counted and logged at
// most once a minute per device and reason.
func (c *Client) receive(p *paho.Publish, now time.Time) {
	in := Incoming{Topic: p.Topic, Received: now}
	if p.Properties != nil {
		in.ResponseTopic = p.Properties.ResponseTopic
		in.CorrelationData = p.Properties.CorrelationData
		in.ContentType = p.Properties.ContentType
	}
	rec, err := usp.ParseRecord(p.Payload)
	if c.cfg.Traffic != nil {
		var from string
		if rec != nil {
			from = rec.FromID
		}
		c.cfg.Traffic.Record(captureOf(traffic.In, from, p, now))
	}
	switch in.ContentType {
	case ContentType, contentTypeV11, "":
		// R-MQTT.27a; a missing Content Type is tolerated because the
		// payload is checked anyway.
	default:
		c.malformed("content_type", "", fmt.Errorf("content type %q", in.ContentType), in)
		return
	}
	if err != nil {
		var from string
		if rec != nil {
			from = rec.FromID
		}
		c.malformed("record", from, err, in)
		return
	}
	in.Record = rec
	switch {
	case rec.ToID != c.cfg.EndpointID:
		// R-E2E.1: not ours (a misrouted Record, or one for another
		// controller sharing this inbox).
		c.ignored("to_id", rec, in)
		return
	case rec.FromID == c.cfg.EndpointID:
		c.ignored("own_from_id", rec, in) // TP-469 2.1
		return
	}
	c.SetReplyTopic(rec.FromID, in.ResponseTopic)

	switch rec.Kind {
	case usp.KindMQTTConnect:
		c.SetReplyTopic(rec.FromID, rec.MQTTConnect.SubscribedTopic)
	case usp.KindDisconnect:
	case usp.KindMsg:
		m, err := rec.Message()
		if err != nil {
			c.malformed("msg", rec.FromID, err, in)
			c.failMalformed(rec.FromID, m.ID, err)
			return
		}
		in.Msg = &m
		if !m.IsRequest() && c.complete(in, true) {
			return
		}
	default:
		c.ignored("record_type", rec, in)
		return
	}
	if !c.workers.dispatch(in) {
		c.metrics.dropped.Inc()
		if c.limiter.allow("dropped|"+rec.FromID, in.Received) {
			c.log.Warn("handler queue full: record dropped", "device", rec.FromID, "kind", rec.Kind, "msg_type", msgType(in.Msg))
		}
	}
}

// Deliver completes the pending request that in (a response received
// elsewhere) answers and reports whether there was one. With SharedGroup
// the broker hands each inbox message to one replica of the group, not
// necessarily the one that asked: a replica that gets a response with an
// unknown msg_id can pass it on, and the owner calls Deliver.
func (c *Client) Deliver(in Incoming) bool {
	if in.Record == nil || in.Msg == nil || in.Msg.Body == nil || in.Msg.IsRequest() {
		return false
	}
	return c.complete(in, false)
}

// complete ends the pending request that in answers and reports whether
// there was one. Only the device the request went to can answer it. An
// unmatched response is counted and logged when count is set.
func (c *Client) complete(in Incoming, count bool) bool {
	m, from := in.Msg, in.Record.FromID
	p, wrongSender := c.pending.take(m.ID, from)
	if p == nil {
		if !count {
			return false
		}
		c.metrics.unknownID.Inc()
		if c.limiter.allow("unknown|"+from, in.Received) {
			reason := "no pending request (late or unsolicited)"
			if wrongSender {
				reason = "pending request is for another device"
			}
			c.log.Warn("response with unknown msg_id", "device", from, "msg_id", m.ID, "msg_type", m.Type(), "reason", reason)
		}
		return false
	}
	if len(in.CorrelationData) > 0 && !bytes.Equal(in.CorrelationData, []byte(m.ID)) {
		c.metrics.corrMism.Inc()
		if c.limiter.allow("correlation|"+from, in.Received) {
			c.log.Warn("correlation data differs from msg_id; matched by msg_id", "device", from, "msg_id", m.ID)
		}
	}
	o := outcome{in: in}
	if _, isErr := m.Body.(*usp.ErrorMsg); !isErr && m.Type() != p.want {
		o.err = fmt.Errorf("%w: expected %v, got %v", ErrUnexpectedResponse, p.want, m.Type())
	}
	p.done <- o
	return true
}

// failMalformed ends the request a Msg that could not be decoded answered,
// when its msg_id could still be read: the caller learns now, not at the
// deadline. The decoding error is quoted, not wrapped, so that it is not
// mistaken for a USP Error the device sent.
func (c *Client) failMalformed(from, id string, err error) {
	if id == "" {
		return
	}
	if p, _ := c.pending.take(id, from); p != nil {
		p.done <- outcome{err: fmt.Errorf("%w: malformed response: %v", ErrUnexpectedResponse, err)}
	}
}

func (c *Client) malformed(reason, from string, err error, in Incoming) {
	c.metrics.malformed.WithLabelValues(reason).Inc()
	key := from
	if key == "" {
		key = in.ResponseTopic // the best name a sender has before its Record is read
	}
	if c.limiter.allow("malformed|"+reason+"|"+key, in.Received) {
		c.log.Warn("malformed record dropped", "reason", reason, "device", from, "response_topic", in.ResponseTopic,
			"code", usperr.CodeOf(err), "error", err)
	}
}

func (c *Client) ignored(reason string, rec *usp.Record, in Incoming) {
	c.metrics.ignored.WithLabelValues(reason).Inc()
	if c.limiter.allow("ignored|"+reason+"|"+rec.FromID, in.Received) {
		c.log.Warn("record ignored", "reason", reason, "device", rec.FromID, "to_id", rec.ToID, "kind", rec.Kind)
	}
}

func msgType(m *usp.Message) string {
	if m == nil || m.Body == nil {
		return ""
	}
	return m.Type().String()
}

// logLimiter lets a message about one key (a device and a reason) through
// at most once per interval, so that a misbehaving device cannot flood the
// log. It remembers at most max keys; when full it forgets them all, which
// at worst lets one extra line per key through.
type logLimiter struct {
	interval time.Duration
	max      int
	mu       sync.Mutex // guards last
	last     map[string]time.Time
}

func newLogLimiter(interval time.Duration, max int) *logLimiter {
	return &logLimiter{interval: interval, max: max, last: make(map[string]time.Time)}
}

func (l *logLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.interval {
		return false
	}
	if len(l.last) >= l.max {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
