package mqttmtp

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/controller/traffic"
)

// Config configures a Client. Zero values mean the defaults filled in by
// setDefaults.
type Config struct {
	// Brokers are the broker URLs, tried in order (failover): mqtt:// (or
	// tcp://), mqtts:// (or tls://, ssl://), ws:// and wss://. WebSocket
	// URLs carry their path, e.g. ws://host:8080/mqtt. Required.
	Brokers []string
	// TLS configures mqtts and wss connections; nil means the system roots.
	TLS *tls.Config
	// Username and Password authenticate the controller to the broker.
	Username, Password string

	// EndpointID is the controller's USP endpoint ID; default
	// "self::cuttle-controller".
	EndpointID string
	// TopicPrefix is the USP topic root; default "usp/v1". A device whose
	// reply topic was never learned is addressed at <prefix>/agent/<EID>.
	TopicPrefix string
	// Inbox is the topic the controller receives on. Empty means: the
	// CONNACK's Response Information, else its subscribe-topic user
	// property, else <prefix>/controller/<EndpointID>.
	Inbox string
	// SharedGroup, when set, subscribes "$share/<group>/<inbox>" so that
	// controller replicas split the inbox's traffic. A response may then
	// reach another replica than the one that asked: see Deliver.
	SharedGroup string
	// ClientID defaults to "<EndpointID>/<random>" when SharedGroup is set
	// (replicas need distinct sessions), else to "" so that the broker
	// assigns one (R-MQTT.8); an assigned ID is reused on reconnect.
	ClientID string
	// QoS of every PUBLISH: default 1. Because 0 means "default", QoS 0 is
	// chosen with PublishQoS0. The inbox is always subscribed with QoS 1.
	QoS byte

	// Timeout bounds each request that has no earlier deadline; default 30 s.
	Timeout time.Duration
	// KeepAlive is the MQTT keep alive; default 60 s (TR-181's default).
	KeepAlive time.Duration
	// ConnectTimeout bounds dialing, CONNECT and SUBSCRIBE; default 10 s.
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// rounds of connection attempts (full jitter in the upper half); default
	// 1 s and 30 s.
	ReconnectMin, ReconnectMax time.Duration

	// Handler receives every Record that is not the response to a pending
	// request: Notify and other requests, mqtt_connect and disconnect
	// Records, and responses with unknown msg_ids (late or unsolicited). It
	// runs on HandlerWorkers goroutines; the Records of one device always go
	// to the same worker, in order. It must be safe for concurrent use and
	// should return quickly: when a worker's queue stays full, Records are
	// dropped (and counted) rather than stalling the MQTT read loop, which
	// carries every device's responses. Nil drops those Records.
	Handler func(Incoming)
	// HandlerWorkers defaults to 4, HandlerQueue (per worker) to 1024.
	HandlerWorkers int
	HandlerQueue   int

	// Traffic, when not nil, records every Record the client publishes
	// and every one it receives, for the traffic inspector. Recording
	// copies nothing and decodes nothing (see controller/traffic).
	Traffic *traffic.Recorder

	// Logger receives logs with component=mqttmtp; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil means a private registry.
	Registerer prometheus.Registerer
}

// PublishQoS0 selects QoS 0 for Config.QoS.
const PublishQoS0 byte = 0x80

// Defaults.
const (
	DefaultEndpointID     = "self::cuttle-controller"
	DefaultTopicPrefix    = "usp/v1"
	DefaultTimeout        = 30 * time.Second
	DefaultKeepAlive      = 60 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultReconnectMin   = time.Second
	DefaultReconnectMax   = 30 * time.Second
	DefaultHandlerWorkers = 4
	DefaultHandlerQueue   = 1024
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid mqttmtp configuration")

func configErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

// setDefaults fills zero values in place, validates the result and returns
// the parsed broker URLs.
func (c *Config) setDefaults() ([]*url.URL, error) {
	if len(c.Brokers) == 0 {
		return nil, configErr("Brokers", "at least one broker URL is required")
	}
	brokers := make([]*url.URL, 0, len(c.Brokers))
	for _, s := range c.Brokers {
		u, err := parseBroker(s)
		if err != nil {
			return nil, configErr("Brokers", "%v", err)
		}
		brokers = append(brokers, u)
	}
	if c.EndpointID == "" {
		c.EndpointID = DefaultEndpointID
	}
	if strings.ContainsAny(c.EndpointID, "+#/") {
		return nil, configErr("EndpointID", "%q must not contain '+', '#' or '/'", c.EndpointID)
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	c.TopicPrefix = strings.TrimSuffix(c.TopicPrefix, "/")
	if !concreteTopic(c.TopicPrefix) {
		return nil, configErr("TopicPrefix", "%q must be a topic without wildcards", c.TopicPrefix)
	}
	if c.Inbox != "" && !concreteTopic(c.Inbox) {
		return nil, configErr("Inbox", "%q must be a topic without wildcards", c.Inbox)
	}
	if strings.ContainsAny(c.SharedGroup, "+#/") {
		return nil, configErr("SharedGroup", "%q must not contain '+', '#' or '/'", c.SharedGroup)
	}
	if c.ClientID == "" && c.SharedGroup != "" {
		var b [6]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		c.ClientID = c.EndpointID + "/" + hex.EncodeToString(b[:])
	}
	switch c.QoS {
	case 0:
		c.QoS = 1
	case PublishQoS0:
		c.QoS = 0
	case 1, 2:
	default:
		return nil, configErr("QoS", "%d is not 1, 2 or PublishQoS0", c.QoS)
	}
	setDuration(&c.Timeout, DefaultTimeout)
	setDuration(&c.KeepAlive, DefaultKeepAlive)
	if c.KeepAlive > 65535*time.Second {
		return nil, configErr("KeepAlive", "%s is more than MQTT's 65535 s", c.KeepAlive)
	}
	setDuration(&c.ConnectTimeout, DefaultConnectTimeout)
	setDuration(&c.ReconnectMin, DefaultReconnectMin)
	setDuration(&c.ReconnectMax, DefaultReconnectMax)
	if c.ReconnectMax < c.ReconnectMin {
		return nil, configErr("ReconnectMax", "%s is less than ReconnectMin %s", c.ReconnectMax, c.ReconnectMin)
	}
	if c.HandlerWorkers <= 0 {
		c.HandlerWorkers = DefaultHandlerWorkers
	}
	if c.HandlerQueue <= 0 {
		c.HandlerQueue = DefaultHandlerQueue
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return brokers, nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// defaultPorts are the IANA ports of MQTT and the usual ones of HTTP.
var defaultPorts = map[string]string{
	"mqtt": "1883", "tcp": "1883",
	"mqtts": "8883", "tls": "8883", "ssl": "8883",
	"ws": "80", "wss": "443",
}

// parseBroker parses a broker URL, adding the scheme's default port.
func parseBroker(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %v", s, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("broker URL %q: scheme must be mqtt, mqtts, ws or wss", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("broker URL %q has no host", s)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

// concreteTopic reports whether t is a non-empty topic name without
// wildcards, as MQTT requires of the topic of a PUBLISH.
func concreteTopic(t string) bool {
	return t != "" && !strings.ContainsAny(t, "+#")
}
