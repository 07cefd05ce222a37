package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker/certs"
	"cuttle/broker/lockout"
)

// Auth policies of a listener.
const (
	// AuthPassword requires a username and secret from the credential store.
	AuthPassword = "password"
	// AuthCert requires a client certificate (mTLS) whose identity names a
	// credential; no password is checked.
	AuthCert = "cert"
	// AuthCertOrPassword accepts either.
	AuthCertOrPassword = "cert-or-password"
	// AuthAnonymous lets anyone in with full rights; it is refused unless
	// the listener is bound to a loopback address.
	AuthAnonymous = "anonymous"
)

// Listener kinds.
const (
	ListenerTCP = "tcp"
	ListenerTLS = "tls"
	ListenerWS  = "ws"
	ListenerWSS = "wss"
)

// ListenerConfig describes one listener.
type ListenerConfig struct {
	// Name identifies the listener in logs and metrics; default: Type.
	Name string `yaml:"name"`
	// Type is tcp, tls, ws or wss.
	Type string `yaml:"type"`
	// Addr is host:port; ":0" picks a free port (tests).
	Addr string `yaml:"addr"`
	// Auth is password (default), cert, cert-or-password or anonymous.
	Auth string `yaml:"auth"`
	// TLS configures tls and wss listeners.
	TLS certs.Config `yaml:"tls"`
	// IdentityFrom says where a client certificate names its credential:
	// "cn" or "san" (default; URI SAN without "urn:bbf:usp:id:", else DNS).
	IdentityFrom string `yaml:"identity_from"`
	// Path is the WebSocket path; default "/mqtt".
	Path string `yaml:"path"`
}

// Config configures a Broker. Zero values mean the defaults of
// setDefaults.
type Config struct {
	// NodeName names this broker node in presence records; default: host name.
	NodeName string `yaml:"node_name"`
	// TopicPrefix is the USP topic root; default "usp/v1".
	TopicPrefix string `yaml:"topic_prefix"`
	// Listeners default to one password-authenticated TCP listener on :1883.
	Listeners []ListenerConfig `yaml:"listeners"`

	// ConnectTimeout closes connections that have not sent CONNECT in time.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// MaxConnections caps connections in total; MaxConnectionsPerIP per
	// source address.
	MaxConnections      int `yaml:"max_connections"`
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// MaxPacketSize is the largest MQTT packet accepted or sent.
	MaxPacketSize uint32 `yaml:"max_packet_size"`
	// MaxSessionExpiry caps how long a disconnected session is kept.
	MaxSessionExpiry time.Duration `yaml:"max_session_expiry"`
	// MaxKeepalive caps the keep alive a client may ask for, so that a
	// connection that died without a FIN (a NAT forgot it, the device lost
	// power) is closed within 1.5 times it, and the device shows offline.
	// An MQTT 5 client asking for more, or for none (0), is told this value
	// (Server Keep Alive); an MQTT 3 client, which cannot be told, is
	// refused (identifier rejected, as Mosquitto does).
	MaxKeepalive time.Duration `yaml:"max_keepalive"`
	// MaxPendingWrites bounds each client's outbound queue.
	MaxPendingWrites int `yaml:"max_pending_writes"`
	// MaxInflight bounds the QoS 1/2 deliveries on the wire to one client
	// awaiting acknowledgement (further bounded by the client's Receive
	// Maximum); more wait in the client's backlog.
	MaxInflight int `yaml:"max_inflight"`
	// MaxQueued bounds the QoS 1/2 messages stored per client, on the wire
	// or backlogged (for an offline session too); beyond it new ones are
	// dropped and counted.
	MaxQueued int `yaml:"max_queued"`
	// FlowWait bounds how long a device's publish is held while its
	// recipient's backlog is long (see flow.go).
	FlowWait time.Duration `yaml:"flow_wait"`
	// ReceiveMaximum is how many QoS 1/2 publishes a client may have
	// unacknowledged towards the broker.
	ReceiveMaximum uint16 `yaml:"receive_maximum"`
	// DevicePublishRate caps the PUBLISH packets one device may send per
	// second, with bursts of up to DevicePublishBurst; beyond it a QoS 1
	// publish is answered 0x97 (quota exceeded) and a QoS 0 one dropped,
	// both counted. It keeps one misbehaving or compromised device from
	// flooding its controller, whose full queue would then hold every other
	// device (flow.go). Negative: no limit.
	DevicePublishRate  int `yaml:"device_publish_rate"`
	DevicePublishBurst int `yaml:"device_publish_burst"`

	// Lockout configures the brute-force defence.
	Lockout lockout.Config `yaml:"lockout"`

	// DataDir keeps retained messages and persistent sessions; "" keeps
	// them in memory only.
	DataDir string `yaml:"data_dir"`
	// HTTPAddr serves /metrics, /healthz and /readyz; "" disables it.
	HTTPAddr string `yaml:"http_addr"`

	// Credentials is the in-memory credential mirror (required).
	Credentials CredentialSource `yaml:"-"`
	// Presence records devices going online and offline; nil disables it.
	Presence PresenceSink `yaml:"-"`
	// Registerer receives the broker's metrics; nil = a private registry.
	Registerer prometheus.Registerer `yaml:"-"`
	Logger     *slog.Logger          `yaml:"-"`
}

// Defaults, chosen for fleets of devices on the open internet.
const (
	DefaultConnectTimeout      = 10 * time.Second
	DefaultMaxConnections      = 200_000
	DefaultMaxConnectionsPerIP = 1_000 // CGNAT puts many CPEs behind one address
	DefaultMaxPacketSize       = 256 << 10
	DefaultMaxSessionExpiry    = 24 * time.Hour
	DefaultMaxKeepalive        = 20 * time.Minute
	DefaultMaxPendingWrites    = 1024
	DefaultMaxInflight         = 128
	DefaultMaxQueued           = 10_000
	DefaultFlowWait            = 10 * time.Second
	DefaultReceiveMaximum      = 256
	// A USP agent answers its controller's requests and sends its
	// notifications: far below this, bulk jobs included (a device answers
	// one request at a time). AWS IoT Core holds a connection to 100
	// publishes a second too. Load-testing one agent needs it lifted.
	DefaultDevicePublishRate  = 100
	DefaultDevicePublishBurst = 1000
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid broker configuration")

func configErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

// setDefaults fills zero values in place and validates the result. Errors
// name the offending field.
func (c *Config) setDefaults() error {
	if c.NodeName == "" {
		c.NodeName, _ = os.Hostname()
		if c.NodeName == "" {
			c.NodeName = "cuttle"
		}
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = "usp/v1"
	}
	if len(c.Listeners) == 0 {
		c.Listeners = []ListenerConfig{{Type: ListenerTCP, Addr: ":1883"}}
	}
	setDuration(&c.ConnectTimeout, DefaultConnectTimeout)
	setInt(&c.MaxConnections, DefaultMaxConnections)
	setInt(&c.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	setDuration(&c.MaxSessionExpiry, DefaultMaxSessionExpiry)
	setDuration(&c.MaxKeepalive, DefaultMaxKeepalive)
	setInt(&c.MaxPendingWrites, DefaultMaxPendingWrites)
	setInt(&c.MaxInflight, DefaultMaxInflight)
	setInt(&c.MaxQueued, DefaultMaxQueued)
	setDuration(&c.FlowWait, DefaultFlowWait)
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = DefaultReceiveMaximum
	}
	setInt(&c.DevicePublishRate, DefaultDevicePublishRate)
	setInt(&c.DevicePublishBurst, DefaultDevicePublishBurst)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	switch {
	case c.Credentials == nil:
		return configErr("credentials", "a credential source is required")
	case c.FlowWait < 0:
		return configErr("flow_wait", "must not be negative")
	case c.ConnectTimeout < 0:
		return configErr("connect_timeout", "must not be negative")
	case c.MaxConnections < 0:
		return configErr("max_connections", "must not be negative")
	case c.MaxConnectionsPerIP < 0:
		return configErr("max_connections_per_ip", "must not be negative")
	case c.MaxSessionExpiry < 0:
		return configErr("max_session_expiry", "must not be negative")
	case c.MaxKeepalive < time.Second || c.MaxKeepalive > 65535*time.Second:
		return configErr("max_keepalive", "must be between 1s and 65535s (MQTT's largest keep alive)")
	case c.MaxPendingWrites < 0 || c.MaxPendingWrites > 1<<20:
		return configErr("max_pending_writes", "must be between 1 and 1048576")
	case c.MaxInflight < 0 || c.MaxInflight > 65535:
		return configErr("max_inflight", "must be between 1 and 65535")
	case c.MaxQueued < 0 || c.MaxQueued > 65535:
		return configErr("max_queued", "must be between 1 and 65535 (MQTT packet IDs)")
	case c.DevicePublishBurst < 1:
		return configErr("device_publish_burst", "must be at least 1")
	case c.MaxQueued < c.MaxInflight:
		return configErr("max_queued", "must be at least max_inflight (%d)", c.MaxInflight)
	}
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		field := fmt.Sprintf("listeners[%d]", i)
		if err := l.setDefaults(field); err != nil {
			return err
		}
		if names[l.Name] {
			return configErr(field+".name", "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
	}
	return nil
}

func (l *ListenerConfig) setDefaults(field string) error {
	switch l.Type {
	case "":
		l.Type = ListenerTCP
	case ListenerTCP, ListenerTLS, ListenerWS, ListenerWSS:
	default:
		return configErr(field+".type", "unknown listener type %q (want tcp, tls, ws or wss)", l.Type)
	}
	if l.Name == "" {
		l.Name = l.Type
	}
	if l.Addr == "" {
		return configErr(field+".addr", "an address is required")
	}
	host, _, err := net.SplitHostPort(l.Addr)
	if err != nil {
		return configErr(field+".addr", "%v", err)
	}
	if l.Auth == "" {
		l.Auth = AuthPassword
	}
	secure := l.Type == ListenerTLS || l.Type == ListenerWSS
	switch l.Auth {
	case AuthPassword:
	case AuthCert, AuthCertOrPassword:
		if !secure || l.TLS.ClientCAFile == "" {
			return configErr(field+".auth", "%s needs a tls or wss listener with tls.client_ca_file", l.Auth)
		}
		if l.TLS.ClientAuth == "" {
			// With passwords allowed, a client without a certificate must
			// get through the handshake to present them.
			l.TLS.ClientAuth = "require"
			if l.Auth == AuthCertOrPassword {
				l.TLS.ClientAuth = "request"
			}
		}
	case AuthAnonymous:
		if !isLoopback(host) {
			return configErr(field+".auth", "anonymous access is only allowed on a loopback address, not %q", l.Addr)
		}
	default:
		return configErr(field+".auth", "unknown auth policy %q (want password, cert, cert-or-password or anonymous)", l.Auth)
	}
	if secure && (l.TLS.CertFile == "" || l.TLS.KeyFile == "") {
		return configErr(field+".tls", "cert_file and key_file are required for %s", l.Type)
	}
	if l.IdentityFrom == "" {
		l.IdentityFrom = "san"
	}
	if l.Path == "" {
		l.Path = "/mqtt"
	}
	return nil
}

// isLoopback reports whether host (from host:port) can only be reached from
// this machine. An empty host means every interface, so it is not.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func setInt(n *int, def int) {
	if *n == 0 {
		*n = def
	}
}
