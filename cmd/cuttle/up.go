package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"cuttle/embednats"
	"cuttle/internal/options"
)

// upFlags are the options of `cuttle up`: the broker's, plus where the
// embedded NATS server keeps its data and listens.
type upFlags struct {
	broker     brokerFlags
	controller controllerFlags
	dataDir    string
	natsAddr   string
	demo       int
}

// runUp runs Cuttle on one machine: an embedded NATS JetStream server (on
// loopback, protected by credentials kept in the data directory) and the
// broker. It blocks until ctx ends, then shuts everything down.
func runUp(ctx context.Context, args []string, stdout io.Writer) error {
	var f upFlags
	set := options.New("up", os.Stderr)
	set.String(&f.dataDir, "data", "./cuttle-data", "directory for all state: NATS JetStream, broker sessions, credentials of the embedded NATS")
	set.String(&f.natsAddr, "nats-addr", "127.0.0.1:4222", "address of the embedded NATS server; must be loopback (use `cuttle broker --nats` for a cluster)")
	f.broker.defineFor(set, true)
	f.controller.define(set, true)
	set.Int(&f.demo, "demo", 0, "also run this many simulated devices, with provisioned credentials")
	if err := parseOptions(set, args, nil); err != nil {
		return helpOK(err)
	}
	log, err := newLogger(f.broker.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	host, portText, err := net.SplitHostPort(f.natsAddr)
	if err != nil {
		return fmt.Errorf("nats-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("nats-addr: the embedded NATS server listens on loopback only, not %q", host)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("nats-addr: bad port %q", portText)
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if f.broker.dataDir == "" {
		f.broker.dataDir = filepath.Join(f.dataDir, "broker")
	}
	local, err := loadOrCreateLocalNATS(f.dataDir, "nats://"+f.natsAddr)
	if err != nil {
		return err
	}
	if port == 0 {
		port = embednats.RandomPort // tests and second instances
	}
	ns, err := embednats.Start(embednats.Config{
		DataDir: filepath.Join(f.dataDir, "nats"), Host: host, Port: port,
		User: local.User, Password: local.Password, Logger: log,
	})
	if err != nil {
		return err
	}
	defer ns.Shutdown()
	if local.URL != ns.ClientURL() {
		local.URL = ns.ClientURL()
		if err := writeLocalNATS(filepath.Join(f.dataDir, localNATSFile), local); err != nil {
			return err
		}
	}
	nc, err := ns.Connect()
	if err != nil {
		return fmt.Errorf("connecting to the embedded NATS server: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	b, run, err := f.broker.startBroker(ctx, js, log)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	run(g, gctx)

	// The controller connects to this broker's TCP listener as a
	// controller whose secret `up` provisions and keeps in the data dir.
	mqttAddr := b.Addr("tcp")
	if mqttAddr == "" {
		return errors.New("cuttle up needs the MQTT TCP listener (--mqtt-addr) for its controller")
	}
	c := &f.controller
	c.dataDir, c.logLevel = f.dataDir, f.broker.logLevel
	c.brokers = "mqtt://" + loopbackAddr(mqttAddr)
	if c.username, c.password, err = localControllerSecret(ctx, js, f.dataDir, c.endpointID); err != nil {
		return err
	}
	apiAddr, runCtl, err := c.startController(ctx, js, log, stdout)
	if err != nil {
		return err
	}
	if err := writeLocalAPI(f.dataDir, apiAddr); err != nil {
		return err
	}
	runCtl(g, gctx)
	if f.demo > 0 {
		runDemo, err := startDemo(ctx, js, f.demo, c.brokers, c.endpointID, log)
		if err != nil {
			return err
		}
		runDemo(g, gctx)
	}

	fmt.Fprintf(stdout, "cuttle %s is up.\n", version)
	fmt.Fprintf(stdout, "  data:        %s\n", f.dataDir)
	fmt.Fprintf(stdout, "  NATS:        %s (credentials in %s)\n", local.URL, filepath.Join(f.dataDir, localNATSFile))
	for _, l := range f.broker.listeners() {
		fmt.Fprintf(stdout, "  MQTT %-6s  %s\n", l.Name+":", b.Addr(l.Name))
	}
	if a := b.HTTPAddr(); a != "" {
		fmt.Fprintf(stdout, "  metrics:     http://%s/metrics\n", a)
	}
	fmt.Fprintf(stdout, "  console:     http://%s/ (sign in with the admin token)\n", loopbackAddr(apiAddr))
	fmt.Fprintf(stdout, "  API:         http://%s/api/v1 (admin token in %s)\n", loopbackAddr(apiAddr), filepath.Join(f.dataDir, "admin.token"))
	if f.demo > 0 {
		fmt.Fprintf(stdout, "  demo:        %d simulated devices\n", f.demo)
	}
	fmt.Fprintln(stdout, "Add a device:  cuttle creds add --role device --endpoint-id os::012345-0001")
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	err = g.Wait()
	stopped := time.Now()
	nc.Close()
	ns.Shutdown()
	log.Info("cuttle stopped", "shutdown", time.Since(stopped).Round(time.Millisecond))
	return err
}
