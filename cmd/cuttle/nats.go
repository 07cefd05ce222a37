package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"cuttle/embednats"
	"cuttle/internal/options"
)

// natsServerFlags are the options of `cuttle nats`.
type natsServerFlags struct {
	dataDir         string
	addr            string
	serverName      string
	user, password  string
	clusterName     string
	clusterAddr     string
	routes          string
	clusterUser     string
	clusterPassword string
	logLevel        string
}

func (f *natsServerFlags) define(s *options.Set) {
	s.String(&f.dataDir, "data", "./nats-data", "directory of the JetStream store")
	s.String(&f.addr, "addr", "127.0.0.1:4222", "client listen address; one reachable from the network (e.g. 0.0.0.0:4222) needs --nats-user")
	s.String(&f.serverName, "server-name", "", "name of this server, unique in a cluster (default: the host name)")
	s.String(&f.user, "nats-user", "", "user every client must log in as")
	s.String(&f.password, "nats-password", "", "password of --nats-user; prefer CUTTLE_NATS_PASSWORD, flags show in ps")
	s.String(&f.clusterName, "cluster-name", "", "join a cluster of this name (with --routes); \"\" = stand-alone")
	s.String(&f.clusterAddr, "cluster-addr", "127.0.0.1:6222", "route listen address of a cluster member, e.g. 0.0.0.0:6222")
	s.String(&f.routes, "routes", "", "routes to the cluster's servers, comma-separated, e.g. nats://n1:6222,nats://n2:6222,nats://n3:6222 (this server may be listed)")
	s.String(&f.clusterUser, "cluster-user", "", "user the cluster's servers authenticate routes with (same on every server)")
	s.String(&f.clusterPassword, "cluster-password", "", "password of --cluster-user; prefer CUTTLE_CLUSTER_PASSWORD")
	s.String(&f.logLevel, "log-level", "info", "debug, info, warn or error")
}

// errNATSAuth refuses a server reachable from the network with no client
// authentication: every component stores credentials in it.
var errNATSAuth = errors.New("a NATS server listening beyond loopback needs --nats-user and --nats-password (or CUTTLE_NATS_USER and CUTTLE_NATS_PASSWORD)")

// splitHostPort parses a listen address; port 0 asks for a free port.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q out of range", p)
	}
	if port == 0 {
		port = embednats.RandomPort
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// configs turns the flags into embednats configurations; cl is nil for a
// stand-alone server.
func (f *natsServerFlags) configs() (embednats.Config, *embednats.ClusterConfig, error) {
	var cfg embednats.Config
	host, port, err := splitHostPort(f.addr)
	if err != nil {
		return cfg, nil, fmt.Errorf("%w: addr %q: %v", errUsage, f.addr, err)
	}
	if !isLoopback(host) && f.user == "" {
		return cfg, nil, fmt.Errorf("%w: %w", errUsage, errNATSAuth)
	}
	name := f.serverName
	if name == "" {
		if name, err = os.Hostname(); err != nil || name == "" {
			name = embednats.DefaultServerName
		}
	}
	cfg = embednats.Config{DataDir: f.dataDir, Host: host, Port: port, User: f.user, Password: f.password, ServerName: name}
	if f.clusterName == "" {
		if f.routes != "" {
			return cfg, nil, fmt.Errorf("%w: --routes needs --cluster-name", errUsage)
		}
		return cfg, nil, nil
	}
	chost, cport, err := splitHostPort(f.clusterAddr)
	if err != nil {
		return cfg, nil, fmt.Errorf("%w: cluster-addr %q: %v", errUsage, f.clusterAddr, err)
	}
	cl := &embednats.ClusterConfig{
		Name: f.clusterName, Host: chost, Port: cport,
		Routes: simSplit(f.routes), User: f.clusterUser, Password: f.clusterPassword,
	}
	return cfg, cl, nil
}

// runNATS is `cuttle nats`: a NATS server with JetStream, alone or as a
// cluster member, so that a deployment runs its NATS from the Cuttle image.
func runNATS(ctx context.Context, args []string, stdout io.Writer) error {
	var f natsServerFlags
	set := options.New("nats", os.Stderr)
	f.define(set)
	if err := parseOptions(set, args, nil); err != nil {
		return helpOK(err)
	}
	if rest := set.FlagSet().Args(); len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	cfg, cl, err := f.configs()
	if err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	cfg.Logger = log
	if cl != nil && !isLoopback(cl.Host) && cl.User == "" {
		log.Warn("routes accept any server that connects: set --cluster-user and --cluster-password, or keep the route port on a private network",
			"component", "nats", "cluster_addr", f.clusterAddr)
	}
	var srv *embednats.Server
	if cl == nil {
		srv, err = embednats.Start(cfg)
	} else {
		srv, err = embednats.StartCluster(cfg, *cl)
	}
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	where := srv.ClientURL()
	if cl != nil {
		where += fmt.Sprintf(" (cluster %s, routes on %s to %s)", cl.Name, srv.ClusterAddr(), redactNATSURL(strings.Join(cl.Routes, ",")))
	}
	fmt.Fprintf(stdout, "cuttle nats %s: server %s ready on %s\n", version, cfg.ServerName, where)
	<-ctx.Done()
	return nil
}
