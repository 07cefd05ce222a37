// Package mqttmtp is the controller's USP-over-MQTT-5 client: it keeps a
// connection to the broker (with failover and backoff), subscribes to the
// controller's inbox, sends USP requests to devices and matches their
// responses, and hands everything else a device sends (Notify, Connect and
// Disconnect Records) to a handler.
//
// Requests are matched to responses by msg_id (TR-369 R-MSG.9) and by the
// sender: only the device a request went to can answer it, so concurrent
// requests to one or many devices never cross. Every PUBLISH carries the
// MQTT 5 properties of the USP MQTT binding (Response Topic, Content Type
// "usp.msg") plus Correlation Data (the msg_id) and user properties naming
// the controller (usp-endpoint-id) and the message type (usp-msg-type).
//
// Correlation Data is not part of TR-369 and agents such as obuspa do not
// echo it, so it never decides a match: when a response carries Correlation
// Data that differs from its msg_id, the difference is logged and counted
// and the response is still matched by msg_id.
package mqttmtp

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"cuttle/usp"
)

// Errors of requests. Other failures wrap these or are *usperr.Error values
// (a USP Error response, reachable with errors.As).
var (
	// ErrTimeout: no response before the request's deadline. Errors that
	// wrap it also wrap context.DeadlineExceeded.
	ErrTimeout = errors.New("mqttmtp: no response before the deadline")
	// ErrNotConnected: there was no broker connection before the deadline,
	// or the connection was lost while the request waited for its answer
	// (the answer cannot arrive: the session is not kept).
	ErrNotConnected = errors.New("mqttmtp: not connected to a broker")
	// ErrUnexpectedResponse: the device answered with a response of the
	// wrong type for the request, or with one that could not be decoded.
	ErrUnexpectedResponse = errors.New("mqttmtp: unexpected response")
	// ErrClosed: Run has returned.
	ErrClosed = errors.New("mqttmtp: client closed")
	// ErrInvalidRequest: the body cannot be sent that way (a response to
	// Do, an Operate without send_resp to Do, a request to Reply).
	ErrInvalidRequest = errors.New("mqttmtp: invalid request")
)

// Incoming is a Record received from a device.
type Incoming struct {
	Record *usp.Record
	// Msg is the decoded Msg; nil for mqtt_connect and disconnect Records.
	Msg *usp.Message
	// Topic is where it was published; ResponseTopic is where the device
	// wants answers (MQTT 5 Response Topic).
	Topic, ResponseTopic string
	CorrelationData      []byte
	ContentType          string
	Received             time.Time
}

// Client is a USP controller's MQTT 5 client. Create it with New, start it
// with Run; its methods are safe for concurrent use.
type Client struct {
	cfg     Config
	brokers []*url.URL
	log     *slog.Logger
	metrics *metrics
	ids     *usp.IDGen
	pending *pendingTable
	workers *handlerPool
	limiter *logLimiter

	ready     chan struct{} // closed once connected and subscribed the first time
	readyOnce sync.Once
	started   atomic.Bool
	closed    chan struct{} // closed when Run returns

	mu sync.Mutex // guards the connection state below
	// link is the live connection, nil while disconnected; lose ends its
	// lost context.
	link *link
	lose context.CancelFunc
	// up is closed when a connection comes up; replaced when it goes down.
	up chan struct{}
	// assignedID is the client ID the broker assigned, reused on reconnect
	// (R-MQTT.9).
	assignedID string

	topicsMu sync.RWMutex // guards topics
	// topics holds the reply topics learned from devices, by endpoint ID.
	topics map[string]string
}

// New validates cfg and returns a Client; it does not connect (Run does).
func New(cfg Config) (*Client, error) {
	brokers, err := cfg.setDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:     cfg,
		brokers: brokers,
		log:     cfg.Logger.With("component", "mqttmtp", "endpoint_id", cfg.EndpointID),
		ids:     usp.NewIDGen(""),
		pending: newPendingTable(),
		limiter: newLogLimiter(time.Minute, 10_000),
		ready:   make(chan struct{}),
		closed:  make(chan struct{}),
		up:      make(chan struct{}),
		topics:  make(map[string]string),
	}
	c.workers = newHandlerPool(cfg.Handler, c.log, cfg.HandlerWorkers, cfg.HandlerQueue)
	c.metrics, err = newMetrics(cfg.Registerer, c.Pending)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Ready returns a channel closed once the client is connected and
// subscribed to its inbox for the first time.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Pending returns the number of requests waiting for their response.
func (c *Client) Pending() int { return c.pending.len() }

// EndpointID returns the controller's endpoint ID.
func (c *Client) EndpointID() string { return c.cfg.EndpointID }

// Inbox returns the topic the client is subscribed to, "" while
// disconnected.
func (c *Client) Inbox() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == nil {
		return ""
	}
	return c.link.inbox
}

// SetReplyTopic records where device eid receives Records, as learned
// from the Response Topic of what it sends or from its mqtt_connect Record
// (the client does both itself). Topics with wildcards are ignored.
func (c *Client) SetReplyTopic(eid, topic string) {
	if eid == "" || !concreteTopic(topic) {
		return
	}
	c.topicsMu.RLock()
	old := c.topics[eid]
	c.topicsMu.RUnlock()
	if old == topic {
		return // the common case: nothing changed, no write lock
	}
	c.topicsMu.Lock()
	c.topics[eid] = topic
	c.topicsMu.Unlock()
	if old != "" {
		c.log.Info("device reply topic changed", "device", eid, "topic", topic, "old", old)
	}
}

// ReplyTopic returns where requests to device eid are published: the
// learned topic, else <prefix>/agent/<eid>.
func (c *Client) ReplyTopic(eid string) string {
	c.topicsMu.RLock()
	t := c.topics[eid]
	c.topicsMu.RUnlock()
	if t != "" {
		return t
	}
	return c.cfg.TopicPrefix + "/agent/" + eid
}
