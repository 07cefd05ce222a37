package embednats

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterPort is the conventional NATS route port.
const DefaultClusterPort = 6222

// ClusterConfig joins a server to a NATS cluster, so that JetStream can keep
// streams and KV buckets on several servers (replicas). The zero value means
// a stand-alone server.
type ClusterConfig struct {
	// Name is the cluster's name; every server of the cluster uses the
	// same one. Required for a cluster.
	Name string
	// Host is the route listen address; default DefaultHost (loopback),
	// so a cluster reachable from the network is always a choice.
	Host string
	// Port is the route port: 0 means 6222, RandomPort (-1) a free port.
	Port int
	// Routes are the URLs of the cluster's servers, e.g.
	// nats://n1:6222. Listing this server too is harmless: nats-server
	// ignores a route to itself, so every node can get the same list.
	Routes []string
	// User and Password, when set, are required on routes; every server
	// of the cluster must use the same ones.
	User, Password string
}

// ErrCluster is returned (wrapped) when a ClusterConfig is not valid.
var ErrCluster = errors.New("embednats: invalid cluster configuration")

func (c *ClusterConfig) setDefaults() error {
	if c.Name == "" {
		return fmt.Errorf("%w: a cluster name is required", ErrCluster)
	}
	if strings.ContainsAny(c.Name, " \t.*>") {
		return fmt.Errorf("%w: cluster name %q must not contain spaces, '.', '*' or '>'", ErrCluster, c.Name)
	}
	if c.Host == "" {
		c.Host = DefaultHost
	}
	switch {
	case c.Port == 0:
		c.Port = DefaultClusterPort
	case c.Port < RandomPort || c.Port > 65535:
		return fmt.Errorf("%w: port %d out of range", ErrCluster, c.Port)
	}
	if (c.User == "") != (c.Password == "") {
		return fmt.Errorf("%w: User and Password must be set together", ErrCluster)
	}
	return nil
}

// routeURLs parses the route URLs, adding the route credentials to those
// that carry none.
func (c *ClusterConfig) routeURLs() ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range c.Routes {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" || u.Host == "" {
			return nil, fmt.Errorf("%w: route %q: want nats://host:port", ErrCluster, r)
		}
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(DefaultClusterPort))
		}
		if u.User == nil && c.User != "" {
			u.User = url.UserPassword(c.User, c.Password)
		}
		out = append(out, u)
	}
	return out, nil
}

// StartCluster starts a server that is a member of the cluster cl, and
// waits until it accepts clients. It behaves as Start in every other
// respect. JetStream on a cluster needs a unique cfg.ServerName per server
// and a persistent cfg.DataDir, so both are required here.
//
// A server is ready for clients before the cluster has elected its
// JetStream meta leader; clients that create streams right away should
// retry, each attempt with a short timeout: until the leader is elected, a
// JetStream API request gets no answer at all.
func StartCluster(cfg Config, cl ClusterConfig) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cl.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: a cluster member needs a DataDir", ErrCluster)
	}
	routes, err := cl.routeURLs()
	if err != nil {
		return nil, err
	}
	s := &Server{
		log:  cfg.Logger.With("component", "embednats", "cluster", cl.Name),
		user: cfg.User,
		pass: cfg.Password,
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embednats: creating store directory: %w", err)
	}
	opts := &server.Options{
		ServerName:             cfg.ServerName,
		Host:                   cfg.Host,
		Port:                   cfg.Port,
		Username:               cfg.User,
		Password:               cfg.Password,
		JetStream:              true,
		StoreDir:               cfg.DataDir,
		DisableJetStreamBanner: true,
		NoSigs:                 true,
		Cluster: server.ClusterOpts{
			Name:     cl.Name,
			Host:     cl.Host,
			Port:     cl.Port,
			Username: cl.User,
			Password: cl.Password,
		},
		Routes: routes,
	}
	if err := s.run(opts, cfg); err != nil {
		return nil, err
	}
	s.log.Info("embedded NATS ready", "url", s.ClientURL(), "store", cfg.DataDir, "auth", cfg.User != "",
		"cluster_addr", s.ns.ClusterAddr(), "routes", len(routes))
	return s, nil
}

// ClusterAddr is the address the route listener is bound to, with the
// actual port when it was started on RandomPort; nil for a stand-alone
// server.
func (s *Server) ClusterAddr() *net.TCPAddr {
	return s.ns.ClusterAddr()
}
