// Package embednats runs a NATS server with JetStream inside the Cuttle
// process, so that `cuttle up` needs no external NATS and tests can start a
// real one in milliseconds. Production clusters use an external NATS instead;
// every component reaches either through an ordinary NATS client connection.
package embednats

import (
	"errors"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults used where a Config field is left at its zero value.
const (
	DefaultHost         = "127.0.0.1"
	DefaultPort         = 4222
	DefaultServerName   = "cuttle"
	DefaultStartTimeout = 10 * time.Second
)

// RandomPort asks for a free port chosen by the kernel; ClientURL reports it.
const RandomPort = -1

// ErrStart is returned (wrapped with the cause) when the server cannot start
// or does not become ready in time.
var ErrStart = errors.New("embedded NATS did not start")

// Config configures an embedded server. The zero value is a loopback-only
// server on port 4222 with a temporary JetStream store.
type Config struct {
	// DataDir holds the JetStream store. Empty means a temporary directory
	// that Shutdown removes.
	DataDir string
	// Host is the listen address. It defaults to loopback so that an
	// embedded server is never reachable from the network by accident.
	Host string
	// Port is the client port: 0 means 4222, RandomPort (-1) a free port.
	Port int
	// User and Password, when set, are required from every client. `cuttle
	// up` keeps them in its data directory with mode 0600.
	User, Password string
	// ServerName names the server in NATS logs and monitoring; default "cuttle".
	ServerName string
	// Logger receives the server's own log lines; nil discards them.
	Logger *slog.Logger
	// StartTimeout bounds how long Start waits for the server to accept
	// clients; default 10s.
	StartTimeout time.Duration
}

// Server is a running embedded NATS server.
type Server struct {
	ns      *server.Server
	log     *slog.Logger
	user    string
	pass    string
	tempDir string // removed by Shutdown; "" when the caller chose DataDir

	shutdownOnce sync.Once
}

func (c *Config) setDefaults() error {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	switch {
	case c.Port == 0:
		c.Port = DefaultPort
	case c.Port < RandomPort || c.Port > 65535:
		return fmt.Errorf("embednats: port %d out of range", c.Port)
	}
	if (c.User == "") != (c.Password == "") {
		return errors.New("embednats: User and Password must be set together")
	}
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return nil
}

// Start starts a server and waits until it accepts clients. It fails fast
// with the server's own reason when the port is taken or JetStream cannot
// open its store.
func Start(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{
		log:  cfg.Logger.With("component", "embednats"),
		user: cfg.User,
		pass: cfg.Password,
	}
	dir := cfg.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "cuttle-nats-")
		if err != nil {
			return nil, fmt.Errorf("embednats: creating temporary store: %w", err)
		}
		dir, s.tempDir = tmp, tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embednats: creating store directory: %w", err)
	}

	opts := &server.Options{
		ServerName:             cfg.ServerName,
		Host:                   cfg.Host,
		Port:                   cfg.Port,
		Username:               cfg.User,
		Password:               serverPassword(cfg.Password),
		JetStream:              true,
		StoreDir:               dir,
		DisableJetStreamBanner: true,
		// The host process owns signals; nats-server must not install
		// handlers that would stop it behind Cuttle's back.
		NoSigs: true,
	}
	if err := s.run(opts, cfg); err != nil {
		return nil, err
	}
	s.log.Info("embedded NATS ready", "url", s.ClientURL(), "store", dir, "auth", cfg.User != "")
	return s, nil
}

// ClientURL is the URL clients connect to, with the actual port when the
// server was started on RandomPort.
func (s *Server) ClientURL() string {
	return s.ns.ClientURL()
}

// Connect opens a client connection with the configured user and password.
// Options given here are applied after those and so take precedence.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := make([]nats.Option, 0, len(opts)+1)
	if s.user != "" {
		all = append(all, nats.UserInfo(s.user, s.pass))
	}
	all = append(all, opts...)
	nc, err := nats.Connect(s.ClientURL(), all...)
	if err != nil {
		return nil, fmt.Errorf("embednats: connecting to %s: %w", s.ClientURL(), err)
	}
	return nc, nil
}

// Shutdown stops the server, waits until it has stopped and removes a
// temporary store. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.removeTemp()
		s.log.Debug("embedded NATS stopped")
	})
}

// run starts nats-server with opts and waits until it accepts
// connections; on failure everything it started is stopped again.
func (s *Server) run(opts *server.Options, cfg Config) error {
	ns, err := server.NewServer(opts)
	if err != nil {
		s.removeTemp()
		return fmt.Errorf("embednats: %w: %w", ErrStart, err)
	}
	s.ns = ns
	logger := newNATSLogger(s.log)
	ns.SetLoggerV2(logger, logger.debug, logger.trace, false)

	// Start returns once the listener is open (or has failed); a failure is
	// only reported through Fatalf, which the logger records, so checking it
	// here avoids waiting out the whole StartTimeout for a port in use.
	ns.Start()
	deadline := time.Now().Add(cfg.StartTimeout)
	for {
		if msg := logger.fatal(); msg != "" {
			s.Shutdown()
			return fmt.Errorf("embednats: %w: %s", ErrStart, msg)
		}
		if ns.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return fmt.Errorf("embednats: %w: not ready after %s on %s",
				ErrStart, cfg.StartTimeout, net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		}
	}
}

func (s *Server) removeTemp() {
	if s.tempDir == "" {
		return
	}
	if err := os.RemoveAll(s.tempDir); err != nil {
		s.log.Warn("removing temporary store", "dir", s.tempDir, "err", err)
	}
}

// serverPassword is what the server keeps of the clients' password: a
// bcrypt hash, so the secret is not held in plain text (nats-server checks
// a password against a bcrypt hash when the configured one is one). Clients
// still send the password itself.
//
// The cost is bcrypt's minimum. The hash only lives in this process's memory,
// and the passwords Cuttle generates are random 128-bit tokens that no cost
// makes weaker; a high cost only slows every connect. At the default cost a
// check took 2 s under the race detector on a loaded 2-core machine, past the
// PING nats-server sends a client after its first 2 s, which then failed the
// connect ("expected 'PONG', got 'PING'").
func serverPassword(p string) string {
	if p == "" || strings.HasPrefix(p, "$2") {
		return p
	}
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
	if err != nil {
		return p // only for passwords over 72 bytes; keep working, as before
	}
	return string(h)
}
