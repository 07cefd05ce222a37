package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"cuttle/broker"
	"cuttle/broker/certs"
	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/broker/presence"
	"cuttle/internal/options"
)

// brokerFlags are the options of `cuttle broker` (and the broker part of
// `cuttle up`).
type brokerFlags struct {
	nats               natsFlags
	nodeName           string
	topicPrefix        string
	mqttAddr           string
	tlsAddr            string
	wsAddr             string
	wssAddr            string
	localAddr          string
	tlsCert, tlsKey    string
	tlsClientCA        string
	tlsAuth            string
	identityFrom       string
	connectTimeout     time.Duration
	maxConns, perIP    int
	maxPacket          uint64
	maxSessionExpiry   time.Duration
	maxKeepalive       time.Duration
	devicePublishRate  int
	devicePublishBurst int
	maxPendingWrites   int
	maxInflight        int
	maxQueued          int
	flowWait           time.Duration
	receiveMaximum     int
	lockFailures       int
	lockWindow         time.Duration
	lockBase, lockMax  time.Duration
	dataDir            string
	httpAddr           string
	credsBucket        string
	revokedBucket      string
	presenceBucket     string
	replicas           int
	logLevel           string
}

// natsFlags say how to reach NATS.
type natsFlags struct {
	url, user, password string
}

func (n *natsFlags) define(s *options.Set) {
	s.String(&n.url, "nats", "nats://127.0.0.1:4222", "NATS server or cluster URL(s), comma-separated")
	s.String(&n.user, "nats-user", "", "NATS user")
	s.String(&n.password, "nats-password", "", "NATS password")
}

// connect dials NATS, failing fast with a clear error when it is down, and
// then reconnecting forever, because the broker must outlive NATS outages.
func (n *natsFlags) connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{nats.Name(name), nats.Timeout(3 * time.Second), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if n.user != "" {
		opts = append(opts, nats.UserInfo(n.user, n.password))
	}
	nc, err := nats.Connect(n.url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", n.url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS JetStream at %s: %w", n.url, err)
	}
	return nc, js, nil
}

func (f *brokerFlags) define(s *options.Set) { f.defineFor(s, false) }

// defineFor defines the broker's options; embedded is true for `cuttle
// up`, which runs its own NATS and serves WebSocket by default.
func (f *brokerFlags) defineFor(s *options.Set, embedded bool) {
	if !embedded {
		f.nats.define(s)
		s.Int(&f.replicas, "replicas", 0, "replicas of the NATS KV buckets the broker uses (credentials, revoked certificates, presence), set when it creates them or when they differ; 3 on a 3-node cluster (0: 1 on creation, existing buckets left alone)")
	}
	wsDefault := ""
	if embedded {
		wsDefault = ":8083"
	}
	s.String(&f.nodeName, "node-name", "", "name of this broker node in presence records (default: host name)")
	s.String(&f.topicPrefix, "topic-prefix", "usp/v1", "root of the USP topics")
	s.String(&f.mqttAddr, "mqtt-addr", ":1883", "MQTT over TCP listener, password auth (\"\" = off)")
	s.String(&f.tlsAddr, "tls-addr", "", "MQTT over TLS listener, e.g. :8883 (needs --tls-cert, --tls-key)")
	s.String(&f.wsAddr, "ws-addr", wsDefault, "MQTT over WebSocket listener, e.g. :8083 (path /mqtt)")
	s.String(&f.wssAddr, "wss-addr", "", "MQTT over secure WebSocket listener (needs --tls-cert, --tls-key)")
	s.String(&f.localAddr, "local-addr", "", "anonymous listener for local tools; must be a loopback address, e.g. 127.0.0.1:1884")
	s.String(&f.tlsCert, "tls-cert", "", "server certificate chain (PEM), reloaded when it changes")
	s.String(&f.tlsKey, "tls-key", "", "server private key (PEM)")
	s.String(&f.tlsClientCA, "tls-client-ca", "", "CA bundle for client certificates (enables mTLS on the TLS listeners)")
	s.String(&f.tlsAuth, "tls-auth", "cert-or-password", "auth on TLS listeners with --tls-client-ca: cert, cert-or-password")
	s.String(&f.identityFrom, "tls-identity-from", "san", "where a client certificate names its credential: san or cn")
	s.Duration(&f.connectTimeout, "connect-timeout", broker.DefaultConnectTimeout, "close connections that send no CONNECT within this time")
	s.Int(&f.maxConns, "max-connections", broker.DefaultMaxConnections, "cap on connections in total")
	s.Int(&f.perIP, "max-connections-per-ip", broker.DefaultMaxConnectionsPerIP, "cap on connections from one IP address")
	s.Uint(&f.maxPacket, "max-packet-size", broker.DefaultMaxPacketSize, "largest MQTT packet accepted (bytes, or with KiB/MiB)")
	s.Duration(&f.maxSessionExpiry, "max-session-expiry", broker.DefaultMaxSessionExpiry, "cap on how long a disconnected session is kept")
	s.Duration(&f.maxKeepalive, "max-keepalive", broker.DefaultMaxKeepalive, "cap on a client's keep alive (MQTT 5 clients asking for more or none are told this; MQTT 3 ones are refused), so dead connections close")
	s.Int(&f.maxPendingWrites, "max-pending-writes", broker.DefaultMaxPendingWrites, "outbound queue length per client")
	s.Int(&f.maxInflight, "max-inflight", broker.DefaultMaxInflight, "QoS 1/2 deliveries on the wire to one client awaiting acknowledgement (also bounded by its Receive Maximum)")
	s.Int(&f.maxQueued, "max-queued", broker.DefaultMaxQueued, "QoS 1/2 messages stored per client, on the wire or waiting; more are dropped")
	s.Duration(&f.flowWait, "flow-wait", broker.DefaultFlowWait, "longest a device's publish is held while its recipient's backlog is long")
	s.Int(&f.receiveMaximum, "receive-maximum", broker.DefaultReceiveMaximum, "QoS 1/2 publishes a client may have unacknowledged towards the broker")
	s.Int(&f.devicePublishRate, "device-publish-rate", broker.DefaultDevicePublishRate, "publishes a second one device may send, beyond its burst (-1 = no limit); more are refused (QoS 1: 0x97) and counted")
	s.Int(&f.devicePublishBurst, "device-publish-burst", broker.DefaultDevicePublishBurst, "publishes one device may send at once above --device-publish-rate")
	s.Int(&f.lockFailures, "lockout-failures", 5, "failed CONNECTs (per IP or username) within --lockout-window before a lockout")
	s.Duration(&f.lockWindow, "lockout-window", time.Minute, "window in which failures count")
	s.Duration(&f.lockBase, "lockout-base", time.Minute, "first lockout; doubles with each repeat")
	s.Duration(&f.lockMax, "lockout-max", time.Hour, "longest lockout")
	s.String(&f.dataDir, "broker-data", "", "directory for retained messages and persistent sessions (\"\" = memory only)")
	s.String(&f.httpAddr, "broker-http-addr", "127.0.0.1:9183", "address of /metrics, /healthz and /readyz (\"\" = off)")
	s.String(&f.credsBucket, "credentials-bucket", "cuttle-credentials", "NATS KV bucket of credentials")
	s.String(&f.revokedBucket, "revoked-bucket", "cuttle-revoked-certs", "NATS KV bucket of revoked client certificates")
	s.String(&f.presenceBucket, "presence-bucket", presence.DefaultBucket, "NATS KV bucket presence is written to")
	s.String(&f.logLevel, "log-level", "info", "debug, info, warn or error")
}

// listeners turns the address flags into listener configurations.
func (f *brokerFlags) listeners() []broker.ListenerConfig {
	tlsCfg := certs.Config{CertFile: f.tlsCert, KeyFile: f.tlsKey, ClientCAFile: f.tlsClientCA}
	secureAuth := broker.AuthPassword
	if f.tlsClientCA != "" {
		secureAuth = f.tlsAuth
	}
	var out []broker.ListenerConfig
	add := func(name, typ, addr, auth string) {
		if addr != "" {
			out = append(out, broker.ListenerConfig{Name: name, Type: typ, Addr: addr, Auth: auth, TLS: tlsCfg, IdentityFrom: f.identityFrom})
		}
	}
	add("tcp", broker.ListenerTCP, f.mqttAddr, broker.AuthPassword)
	add("tls", broker.ListenerTLS, f.tlsAddr, secureAuth)
	add("ws", broker.ListenerWS, f.wsAddr, broker.AuthPassword)
	add("wss", broker.ListenerWSS, f.wssAddr, secureAuth)
	add("local", broker.ListenerTCP, f.localAddr, broker.AuthAnonymous)
	return out
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// startBroker opens the credential mirror and presence writer on js and
// builds the broker; run starts them all under g.
func (f *brokerFlags) startBroker(ctx context.Context, js jetstream.JetStream, log *slog.Logger) (*broker.Broker, func(g *errgroup.Group, ctx context.Context), error) {
	if f.maxPacket > 1<<31 || f.receiveMaximum < 1 || f.receiveMaximum > 65535 {
		return nil, nil, errors.New("max-packet-size must be at most 2GiB and receive-maximum between 1 and 65535")
	}
	if f.replicas < 0 || f.replicas > 5 {
		return nil, nil, errors.New("replicas must be between 0 and 5")
	}
	if _, err := creds.OpenStore(ctx, creds.StoreConfig{JetStream: js, Bucket: f.credsBucket, RevokedBucket: f.revokedBucket, Replicas: f.replicas, Logger: log}); err != nil {
		return nil, nil, err
	}
	mirror, err := creds.NewMirror(ctx, creds.MirrorConfig{JetStream: js, Bucket: f.credsBucket, RevokedBucket: f.revokedBucket, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	presReplicas, err := presenceReplicas(ctx, js, f.presenceBucket, f.replicas)
	if err != nil {
		return nil, nil, err
	}
	pres, err := presence.New(ctx, presence.Config{JetStream: js, Bucket: f.presenceBucket, Replicas: presReplicas, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	b, err := broker.New(broker.Config{
		NodeName: f.nodeName, TopicPrefix: f.topicPrefix, Listeners: f.listeners(),
		ConnectTimeout: f.connectTimeout, MaxConnections: f.maxConns, MaxConnectionsPerIP: f.perIP,
		MaxPacketSize: uint32(f.maxPacket), MaxSessionExpiry: f.maxSessionExpiry, MaxKeepalive: f.maxKeepalive,
		MaxPendingWrites: f.maxPendingWrites, MaxInflight: f.maxInflight, MaxQueued: f.maxQueued, FlowWait: f.flowWait, ReceiveMaximum: uint16(f.receiveMaximum),
		DevicePublishRate: f.devicePublishRate, DevicePublishBurst: f.devicePublishBurst,
		Lockout: lockoutConfig(f),
		DataDir: f.dataDir, HTTPAddr: f.httpAddr,
		Credentials: mirror, Presence: pres, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	run := func(g *errgroup.Group, ctx context.Context) {
		g.Go(func() error { return mirror.Run(ctx) })
		g.Go(func() error { return pres.Run(ctx) })
		g.Go(func() error { return b.Run(ctx) })
	}
	return b, run, nil
}

func runBroker(ctx context.Context, args []string, _ io.Writer) error {
	var f brokerFlags
	set := options.New("broker", os.Stderr)
	f.define(set)
	if err := parseOptions(set, args, nil); err != nil {
		return helpOK(err)
	}
	log, err := newLogger(f.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	nc, js, err := f.nats.connect("cuttle-broker")
	if err != nil {
		return err
	}
	defer nc.Close()
	_, run, err := f.startBroker(ctx, js, log)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	run(g, gctx)
	return g.Wait()
}

// presenceReplicas is the replica count to open the presence bucket with.
// presence.New creates or updates the bucket to the count it is given, so
// with --replicas 0 it is given the bucket's current count: a broker
// started with defaults must not shrink a cluster's 3-replica bucket.
func presenceReplicas(ctx context.Context, js jetstream.JetStream, bucket string, want int) (int, error) {
	if want != 0 {
		return want, nil
	}
	if bucket == "" {
		bucket = presence.DefaultBucket
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("opening presence bucket %s: %w", bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("presence bucket %s: %w", bucket, err)
	}
	return max(st.Config().Replicas, 1), nil
}

func lockoutConfig(f *brokerFlags) lockout.Config {
	return lockout.Config{MaxFailures: f.lockFailures, Window: f.lockWindow, BaseLockout: f.lockBase, MaxLockout: f.lockMax}
}
