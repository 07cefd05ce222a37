package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"cuttle/broker/creds"
	"cuttle/console"
	"cuttle/controller"
	"cuttle/controller/api"
	"cuttle/controller/auth"
	"cuttle/controller/jobs"
	"cuttle/controller/mqttmtp"
	"cuttle/controller/traffic"
	"cuttle/internal/options"
)

// controllerFlags are the options of `cuttle controller` (and the
// controller part of `cuttle up`).
type controllerFlags struct {
	nats        natsFlags
	brokers     string
	endpointID  string
	username    string
	password    string
	sharedGroup string
	httpAddr    string
	dataDir     string
	timeout     time.Duration
	trafficRing int
	replicas    int
	logLevel    string
}

func (f *controllerFlags) define(s *options.Set, embedded bool) {
	if !embedded {
		f.nats.define(s)
		s.String(&f.brokers, "broker", "mqtt://127.0.0.1:1883", "broker URL(s), comma-separated, tried in order: mqtt://, mqtts://, ws://, wss://")
		s.String(&f.username, "controller-username", "", "broker username of the controller (default: its endpoint ID)")
		s.String(&f.password, "controller-password", "", "broker secret of the controller; prefer CUTTLE_CONTROLLER_PASSWORD")
		s.String(&f.sharedGroup, "shared-group", "", "share the controller inbox with other replicas under this group name")
		s.String(&f.dataDir, "data", "./cuttle-data", "where the bootstrap admin token is written (admin.token)")
		s.String(&f.logLevel, "log-level", "info", "debug, info, warn or error")
		s.Int(&f.replicas, "replicas", 0, "replicas of the NATS KV buckets and streams the controller uses (devices, events, tokens, audit, jobs, credentials), set when it creates them or when they differ; 3 on a 3-node cluster (0: 1 on creation, existing ones left alone)")
	}
	s.String(&f.endpointID, "controller-id", mqttmtp.DefaultEndpointID, "the controller's USP endpoint ID")
	s.String(&f.httpAddr, "http-addr", ":8080", "address of the REST API and the web console")
	s.Duration(&f.timeout, "request-timeout", mqttmtp.DefaultTimeout, "default timeout of a USP request to a device")
	s.Int(&f.trafficRing, "traffic-ring", traffic.DefaultSize, "USP messages the traffic inspector keeps in memory (0 turns it off)")
}

// startController opens the stores on js, builds the controller and its
// API, and listens; run starts them under g.
func (f *controllerFlags) startController(ctx context.Context, js jetstream.JetStream, log *slog.Logger, stdout io.Writer) (addr string, run func(g *errgroup.Group, ctx context.Context), err error) {
	if f.username == "" {
		f.username = f.endpointID
	}
	if f.replicas < 0 || f.replicas > 5 {
		return "", nil, fmt.Errorf("%w: replicas must be between 0 and 5", errUsage)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	store, err := creds.OpenStore(ctx, creds.StoreConfig{JetStream: js, Replicas: f.replicas, Logger: log})
	if err != nil {
		return "", nil, err
	}
	tokens, err := auth.Open(ctx, auth.Config{JetStream: js, Replicas: f.replicas, Logger: log})
	if err != nil {
		return "", nil, err
	}
	tokenFile := filepath.Join(f.dataDir, "admin.token")
	created, err := tokens.Bootstrap(ctx, tokenFile)
	if err != nil {
		return "", nil, fmt.Errorf("bootstrap admin token: %w", err)
	}
	if created {
		fmt.Fprintf(stdout, "Created the bootstrap admin token in %s\n", tokenFile)
	}
	ctl, err := controller.New(ctx, controller.Config{
		MTP: mqttmtp.Config{
			Brokers: strings.Split(f.brokers, ","), Username: f.username, Password: f.password,
			EndpointID: f.endpointID, SharedGroup: f.sharedGroup, Timeout: f.timeout,
		},
		JetStream: js, Replicas: f.replicas, RequestTimeout: f.timeout, Logger: log, Registerer: reg,
		TrafficRing: trafficRing(f.trafficRing),
	})
	if err != nil {
		return "", nil, err
	}
	a, err := api.New(api.Config{Controller: ctl, Auth: tokens, Creds: store, Logger: log, Registerer: reg, Gatherer: reg})
	if err != nil {
		return "", nil, err
	}
	mgr, err := jobs.New(ctx, jobs.Config{JetStream: js, Replicas: f.replicas, USP: ctl.MTP(), Inventory: ctl.Inventory(),
		Completions: ctl.Events(), Logger: log, Registerer: reg})
	if err != nil {
		return "", nil, fmt.Errorf("bulk jobs: %w", err)
	}
	var routes []api.Route
	for _, r := range jobs.Routes() {
		routes = append(routes, api.Route{Method: r.Method, Path: r.Path, Action: r.Action})
	}
	if err := a.MountHandler("/api/v1/jobs", mgr.Handler(jobs.HandlerOptions{Logger: log, RequestID: api.RequestID}), routes); err != nil {
		return "", nil, err
	}
	if err := a.ExtendOpenAPI(jobs.MergeOpenAPI); err != nil {
		return "", nil, err
	}
	if err := console.Mount(a); err != nil {
		return "", nil, fmt.Errorf("web console: %w", err)
	}
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return "", nil, fmt.Errorf("API on %s: %w", f.httpAddr, err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	run = func(g *errgroup.Group, ctx context.Context) {
		g.Go(func() error { return tokens.Run(ctx) })
		g.Go(func() error { return ctl.Run(ctx) })
		g.Go(func() error { return mgr.Run(ctx) })
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	return ln.Addr().String(), run, nil
}

// trafficRing maps --traffic-ring, where 0 turns the inspector off, to
// controller.Config.TrafficRing, where 0 means the default.
func trafficRing(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

func runController(ctx context.Context, args []string, stdout io.Writer) error {
	var f controllerFlags
	set := options.New("controller", os.Stderr)
	f.define(set, false)
	if err := parseOptions(set, args, nil); err != nil {
		return helpOK(err)
	}
	if f.password == "" {
		return fmt.Errorf("%w: the controller's broker secret is required (--controller-password or CUTTLE_CONTROLLER_PASSWORD)", errUsage)
	}
	log, err := newLogger(f.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	nc, js, err := f.nats.connect("cuttle-controller")
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	addr, run, err := f.startController(ctx, js, log, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cuttle controller %s: API on http://%s/api/v1, console on http://%s/\n", version, addr, addr)
	g, gctx := errgroup.WithContext(ctx)
	run(g, gctx)
	return g.Wait()
}
