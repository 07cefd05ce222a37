// Package broker is Cuttle's MQTT 5 broker for USP devices on the open
// internet, built on Mochi (github.com/mochi-mqtt/server/v2). It adds what
// Mochi leaves to its users: authentication against credentials mirrored
// from NATS KV, a binding of each device's endpoint ID, client ID and
// credential, exact-topic ACLs, the USP trusted-broker check of from_id,
// CONNACK topic hints, brute-force lockout, connection limits, live
// revocation, certificate hot reload and metrics; and it works around
// Mochi's QoS 1 deadlock (flow.go).
package broker

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/bbolt"

	"cuttle/broker/acl"
	"cuttle/broker/certs"
	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/broker/presence"
)

// CredentialSource is what the broker needs of the credential store: an
// in-memory view (no I/O per call) and change notifications.
// *creds.Mirror satisfies it.
type CredentialSource interface {
	Lookup(username string) (creds.Credential, bool)
	HasController(endpointID string) bool
	IsRevoked(cert *x509.Certificate) bool
	Subscribe(fn func(creds.Change)) (cancel func())
	Healthy() bool
}

var _ CredentialSource = (*creds.Mirror)(nil)

// PresenceSink records devices and controllers going online and offline.
// Record is called from connection goroutines and must not block on I/O.
// *presence.Writer satisfies it.
type PresenceSink interface {
	Record(p presence.Presence)
}

var _ PresenceSink = (*presence.Writer)(nil)

// Broker is a running MQTT broker.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	server    *mqtt.Server
	rules     *acl.Rules
	creds     CredentialSource
	lockout   *lockout.Limiter
	sessions  *sessions
	flow      *flow
	store     *boltStore // nil without a DataDir
	takeovers *takeovers
	metrics   *metrics
	guard     *guard
	reloads   []*certs.Reloader
	lns       []*listener
	http      *http.Server
	httpLn    net.Listener

	wg sync.WaitGroup // revocation disconnects in progress
}

// New builds a broker and opens its listeners, so a port in use or a bad
// certificate fails here with an error naming it.
func New(cfg Config) (*Broker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	lim, err := lockout.New(cfg.Lockout)
	if err != nil {
		return nil, configErr("lockout", "%v", err)
	}
	b := &Broker{
		cfg: cfg, log: cfg.Logger.With("component", "broker"), creds: cfg.Credentials, lockout: lim,
		sessions: newSessions(),
		rules:    acl.New(cfg.TopicPrefix, cfg.Credentials.HasController),
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = math.MaxInt64 // the guard enforces the caps, before CONNECT
	caps.MaximumClientWritesPending = int32(cfg.MaxPendingWrites)
	caps.MaximumInflight = uint16(cfg.MaxQueued)
	caps.ReceiveMaximum = cfg.ReceiveMaximum
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.TopicAliasMaximum = topicAliasMaximum
	caps.MaximumSessionExpiryInterval = uint32(cfg.MaxSessionExpiry / time.Second)
	// Acks must not echo the PUBLISH's user properties: strict MQTT 5
	// clients (paho) reject them.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	b.server = mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(withoutPackets{cfg.Logger.Handler()}).With("component", "mochi"),
		// Mochi buffers a write while more packets wait in the client's
		// queue and relies on a later write to flush it. When the broker's
		// flow control skips those later packets (flow.go), nothing would
		// flush it and the buffered delivery would never leave. A buffer of
		// one byte makes Mochi hand every packet to the connection at once;
		// the connection's outbox (outbox.go) batches them instead, and
		// always flushes.
		ClientNetWriteBufferSize: 1,
		// Mochi refreshes its $SYS topics on this interval: a stop-the-world
		// memory reading, twenty retained messages, and, with a data
		// directory, a write of its statistics to the bolt store. Mochi's
		// default is every second; only admin clients may read $SYS (the
		// operator's figures are /metrics), so every 10 s, as Mosquitto.
		SysTopicResendInterval: 10,
		// Mochi gives every client a read buffer of this size for life.
		// Packets larger than it are read past it, so it bounds how many
		// small packets one read system call takes in, not their size:
		// 1 KiB holds a burst of a few USP Records or many acks, at half
		// the memory per idle device of Mochi's 2 KiB.
		ClientNetReadBufferSize: 1024,
	})
	m, err := newMetrics(cfg.Registerer, b.server.Info.Clone, lim.LockedCount)
	if err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	b.metrics = m
	b.flow = &flow{maxInflight: cfg.MaxInflight, highWater: max(cfg.MaxQueued/2, 1),
		queueHigh: int64(max(cfg.MaxPendingWrites/2, 1)), queueLow: int64(cfg.MaxPendingWrites / 4),
		maxStored: cfg.MaxQueued}
	b.guard = newGuard(&b.cfg, m)
	if err := b.server.AddHook(&hook{b: b}, nil); err != nil {
		return nil, fmt.Errorf("adding hook: %w", err)
	}
	if cfg.DataDir != "" {
		if err := b.addStorage(); err != nil {
			return nil, err
		}
	}
	// After the store: see takeovers.
	b.takeovers = newTakeovers(b)
	if err := b.server.AddHook(b.takeovers, nil); err != nil {
		return nil, fmt.Errorf("adding takeover hook: %w", err)
	}
	for i, lc := range b.cfg.Listeners {
		if err := b.addListener(i, lc); err != nil {
			b.closeListeners()
			return nil, err
		}
	}
	if cfg.HTTPAddr != "" {
		if err := b.listenHTTP(); err != nil {
			b.closeListeners()
			return nil, err
		}
	}
	return b, nil
}

func (b *Broker) addStorage() error {
	if err := os.MkdirAll(b.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("broker data dir: %w", err)
	}
	store := &boltStore{new(bolt.Hook)}
	err := b.server.AddHook(store, &bolt.Options{
		Path:    filepath.Join(b.cfg.DataDir, "broker.db"),
		Options: &bbolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("opening broker store in %s: %w", b.cfg.DataDir, err)
	}
	b.store = store
	return nil
}

func (b *Broker) addListener(i int, lc ListenerConfig) error {
	l := &listener{cfg: lc, guard: b.guard, log: b.log, closeClients: b.closeListenerClients}
	if lc.Type == ListenerTLS || lc.Type == ListenerWSS {
		tc := lc.TLS
		tc.Logger = b.cfg.Logger
		r, err := certs.New(tc)
		if err != nil {
			return configErr(fmt.Sprintf("listeners[%d].tls", i), "%v", err)
		}
		b.reloads = append(b.reloads, r)
		l.tls = r.TLSConfig()
	}
	if err := b.server.AddListener(l); err != nil {
		return fmt.Errorf("listener %s on %s: %w", lc.Name, lc.Addr, err)
	}
	b.lns = append(b.lns, l)
	return nil
}

func (b *Broker) closeListeners() {
	for _, l := range b.lns {
		l.Close(func(string) {})
	}
	if b.httpLn != nil {
		_ = b.httpLn.Close()
	}
}

// Addr returns the bound address of the named listener ("" if unknown);
// with port 0 in the configuration this is where the port is learned.
func (b *Broker) Addr(name string) string {
	for _, l := range b.lns {
		if l.cfg.Name == name {
			return l.Address()
		}
	}
	return ""
}

// HTTPAddr returns the bound address of the metrics and health endpoint.
func (b *Broker) HTTPAddr() string {
	if b.httpLn == nil {
		return ""
	}
	return b.httpLn.Addr().String()
}

// Run serves until ctx ends, then disconnects every client and returns.
func (b *Broker) Run(ctx context.Context) error {
	cancelWatch := b.creds.Subscribe(b.onCredentialChange)
	defer cancelWatch()
	if err := b.server.Serve(); err != nil {
		return fmt.Errorf("starting mqtt server: %w", err)
	}
	b.log.Info("broker started", "node", b.cfg.NodeName, "listeners", b.listenerAddrs())

	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { _ = b.lockout.Run(runCtx) })
	for _, r := range b.reloads {
		wg.Go(func() { _ = r.Run(runCtx) })
	}
	if b.http != nil {
		wg.Go(func() {
			if err := b.http.Serve(b.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.log.Error("metrics endpoint stopped", "error", err)
			}
		})
	}

	<-ctx.Done()
	stop()
	if b.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = b.http.Shutdown(sctx)
		cancel()
	}
	err := b.server.Close()
	b.wg.Wait()
	wg.Wait()
	b.log.Info("broker stopped")
	return err
}

func (b *Broker) listenerAddrs() []string {
	var out []string
	for _, l := range b.lns {
		out = append(out, l.cfg.Name+"="+l.Address())
	}
	return out
}

// onCredentialChange closes the sessions a change takes rights from: a
// removed or disabled credential, a changed role or endpoint ID, or a
// revoked certificate. It runs on the mirror's watch goroutine, so the
// disconnects (which write to sockets) run in their own goroutines.
func (b *Broker) onCredentialChange(ch creds.Change) {
	var clients []*mqtt.Client
	switch ch.Kind {
	case creds.CredentialRemoved:
		clients = b.sessions.ofUser(ch.Username)
	case creds.CredentialUpdated:
		if ch.Old.Username == "" {
			// A new credential: the mirror serves it before it notifies, so
			// a session may already use it; there is nothing to take back.
			return
		}
		if ch.New.Disabled || ch.New.Role != ch.Old.Role || ch.New.EndpointID != ch.Old.EndpointID {
			clients = b.sessions.ofUser(ch.Username)
		}
	case creds.CertRevoked:
		clients = b.sessions.ofCert(ch.CertSpec)
	}
	for _, cl := range clients {
		b.metrics.revoked.Inc()
		b.log.Info("closing revoked session", "client", cl.ID, "username", ch.Username, "cert", ch.CertSpec)
		if cl.Closed() {
			// An offline persistent session: drop it, so nothing more
			// queues for an identity that no longer has the right.
			b.sessions.remove(cl)
			b.server.UnsubscribeClient(cl)
			b.server.Clients.Delete(cl.ID)
			continue
		}
		// A Will is published for the identity that left it, which no
		// longer has the right: it is dropped, not sent.
		atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
		b.wg.Go(func() { _ = b.server.DisconnectClient(cl, packets.ErrNotAuthorized) })
	}
}

// closeListenerClients disconnects the clients of one listener when it
// closes. It replaces Mochi's own, whose Clients.GetByListener read-locks
// the client table and, inside, read-locks it again (Clients.Len): with a
// client leaving at that moment (Clients.Delete waiting for the write lock)
// both wait forever and the broker never finishes shutting down (seen in
// v2.7.9 during a test's shutdown).
func (b *Broker) closeListenerClients(name string) {
	for _, cl := range b.server.Clients.GetAll() {
		if cl.Net.Listener == name && !cl.Closed() {
			_ = b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// presence reports s going online or offline to the sink, if any.
func (b *Broker) presence(s *session, online bool) {
	if b.cfg.Presence == nil || s.subject.EndpointID == "" {
		return
	}
	role := "device"
	if s.subject.Role == acl.RoleController {
		role = "controller"
	}
	b.cfg.Presence.Record(presence.Presence{
		EndpointID: s.subject.EndpointID, Role: role, Online: online, Since: time.Now().UTC(),
		Remote: s.ip, Node: b.cfg.NodeName, Listener: s.listener,
	})
}

func (b *Broker) listenHTTP() error {
	ln, err := net.Listen("tcp", b.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("metrics endpoint on %s: %w", b.cfg.HTTPAddr, err)
	}
	b.httpLn = ln
	mux := http.NewServeMux()
	if g, ok := b.cfg.Registerer.(prometheus.Gatherer); ok {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.creds.Healthy() {
			// Existing sessions keep working and new ones use the last known
			// credentials, but the operator should know.
			http.Error(w, "credential store unreachable: serving the last known credentials", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	b.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return nil
}
