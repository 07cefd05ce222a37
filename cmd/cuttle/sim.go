package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"cuttle/broker/creds"
	"cuttle/internal/options"
	"cuttle/simulator/agent"
	"cuttle/simulator/fleet"
	"cuttle/simulator/profile"
)

// simFlags are the options of `cuttle sim`.
type simFlags struct {
	brokers       string // comma-separated; the flag may be repeated
	controllers   string // likewise
	devices       int
	first         int
	idPrefix      string
	profile       string
	rate          string
	seed          uint64
	topicPrefix   string
	responseTopic string
	credentials   string
	provision     bool
	natsURL       string
	natsUser      string
	natsPassword  string
	credsBucket   string
	dataDir       string
	tick          time.Duration
	qos           int
	keepAlive     time.Duration
	bootDelay     time.Duration
	statusEvery   time.Duration
	httpAddr      string
	tlsCA         string
	clientCerts   string
	logLevel      string
}

// simCLI holds the command's I/O, so tests can run it in-process.
type simCLI struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// runSim is `cuttle sim`: simulated USP devices against a broker.
func runSim(ctx context.Context, args []string, stdout io.Writer) error {
	return simCLI{stdout: stdout, stderr: os.Stderr, getenv: os.Getenv}.run(ctx, args)
}

func (f *simFlags) define(s *options.Set) {
	s.String(&f.brokers, "broker", "mqtt://127.0.0.1:1883", "broker URL: mqtt://, mqtts://, ws:// or wss:// (repeat or comma-separate to fail over)")
	simRepeatable(s, "broker")
	s.Int(&f.devices, "devices", 0, "number of devices (default: every line of --credentials; 10 with --provision)")
	s.Int(&f.first, "first", 1, "number of the first device, for --provision endpoint IDs and per-device values")
	s.String(&f.idPrefix, "id-prefix", "", "endpoint ID prefix for --provision, followed by a 6-digit number (default: os::<profile OUI>-<profile serial prefix>)")
	s.String(&f.profile, "profile", profile.DefaultName, "device profile: "+strings.Join(profile.Names(), ", ")+", or a .yaml/.json file")
	s.String(&f.rate, "rate", "200/s", "connection attempts per second for the whole fleet, first connections and reconnects (N, N/s or N/m)")
	s.Uint(&f.seed, "seed", 1, "seed of the per-device values (serials are fixed by the device number)")
	s.String(&f.controllers, "controller", fleet.DefaultController, "endpoint ID of a Controller the devices accept (repeat or comma-separate)")
	simRepeatable(s, "controller")
	s.String(&f.topicPrefix, "topic-prefix", fleet.DefaultTopicPrefix, "root of the USP topics (Controller topics are <prefix>/controller/<endpoint ID>)")
	s.String(&f.responseTopic, "response-topic", "", "reply-to topic used when the broker names none in CONNACK, e.g. {prefix}/agent/{eid}")
	s.String(&f.credentials, "credentials", "", "CSV file of endpoint-id,username,secret lines, as 'cuttle creds add --role device --count N -o csv' prints")
	s.Bool(&f.provision, "provision", false, "create device credentials in NATS KV (rotating the secret of existing ones) instead of reading --credentials")
	s.String(&f.natsURL, "nats", "nats://127.0.0.1:4222", "NATS server URL(s) for --provision")
	s.String(&f.natsUser, "nats-user", "", "NATS user for --provision")
	s.String(&f.natsPassword, "nats-password", "", "NATS password for --provision; prefer the environment variable")
	s.String(&f.credsBucket, "credentials-bucket", creds.DefaultBucket, "NATS KV bucket of credentials for --provision")
	s.String(&f.dataDir, "data", "./cuttle-data", "data directory of a local 'cuttle up', whose NATS credentials --provision uses when --nats-user is not given")
	s.Duration(&f.tick, "tick", fleet.DefaultTickInterval, "how often each device's simulated time moves")
	s.Int(&f.qos, "qos", 1, "QoS of the Records devices publish: 0 or 1")
	s.Duration(&f.keepAlive, "keep-alive", fleet.DefaultKeepAlive, "MQTT keep-alive")
	s.Duration(&f.bootDelay, "boot-delay", fleet.DefaultBootDelay, "mean time a rebooting device stays off (each boot takes 2/3 to 5/3 of it)")
	s.Duration(&f.statusEvery, "status-interval", 5*time.Second, "how often to print the status line (0: never)")
	s.String(&f.httpAddr, "http-addr", "", "address of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9184 (\"\" = off)")
	s.String(&f.tlsCA, "tls-ca", "", "CA bundle (PEM) to verify mqtts:// and wss:// brokers (default: the system roots)")
	s.String(&f.clientCerts, "tls-client-certs", "", "directory of device client certificates for mTLS on mqtts:// and wss://: <endpoint ID>.crt and <endpoint ID>.key (PEM) per device")
	s.String(&f.logLevel, "log-level", "info", "debug, info, warn or error")
}

// simRepeatable lets an option defined with Set.String be given several
// times: the values join with commas, as the environment variable and the
// config file give them.
func simRepeatable(s *options.Set, name string) {
	fl := s.FlagSet().Lookup(name)
	fl.Value = &simList{Value: fl.Value}
}

type simList struct {
	flag.Value
	set bool
}

// String is safe on the zero value, which flag.PrintDefaults makes.
func (l *simList) String() string {
	if l == nil || l.Value == nil {
		return ""
	}
	return l.Value.String()
}

func (l *simList) Set(v string) error {
	if l.set {
		v = l.String() + "," + v
	}
	l.set = true
	return l.Value.Set(v)
}

// simSplit splits a comma-separated option, dropping empty items.
func simSplit(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// newSimSet returns the options of `cuttle sim`, bound to f.
func newSimSet(f *simFlags, c simCLI) *options.Set {
	set := options.New("sim", c.stderr)
	f.define(set)
	return set
}

func (c simCLI) run(ctx context.Context, args []string) error {
	var f simFlags
	set := newSimSet(&f, c)
	if err := parseOptions(set, args, c.getenv); err != nil {
		return helpOK(err)
	}
	if rest := set.FlagSet().Args(); len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[0])
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, c.stderr)
	if err != nil {
		return err
	}
	cfg.Logger = log
	if cfg.Devices, err = f.deviceConfigs(ctx, cfg.Profile, log); err != nil {
		return err
	}
	if f.clientCerts != "" {
		if err := loadSimClientCerts(f.clientCerts, cfg.Devices); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg.Registerer = reg
	fl, err := fleet.New(cfg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if f.httpAddr != "" {
		ln, err := net.Listen("tcp", f.httpAddr)
		if err != nil {
			return fmt.Errorf("http-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics endpoint: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
		log.Info("metrics endpoint", "addr", ln.Addr().String())
	}
	g.Go(func() error { return fl.Run(gctx) })
	if f.statusEvery > 0 {
		g.Go(func() error {
			t := time.NewTicker(f.statusEvery)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					fmt.Fprintf(c.stdout, "%s %s\n", time.Now().Format(time.TimeOnly), fl.Stats())
					return nil
				case now := <-t.C:
					fmt.Fprintf(c.stdout, "%s %s\n", now.Format(time.TimeOnly), fl.Stats())
				}
			}
		})
	}
	return g.Wait()
}

// config turns the flags into a fleet configuration, without the devices.
func (f *simFlags) config() (fleet.Config, error) {
	var cfg fleet.Config
	usage := func(format string, v ...any) (fleet.Config, error) {
		return cfg, fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, v...))
	}
	switch {
	case f.credentials == "" && !f.provision:
		return usage("give --credentials FILE (from `cuttle creds add --role device --count N --id-prefix P -o csv`) or --provision")
	case f.credentials != "" && f.provision:
		return usage("--credentials and --provision exclude each other")
	case f.devices < 0 || f.devices > 1_000_000:
		return usage("--devices must be between 1 and 1000000")
	case f.first < 1 || f.first+max(f.devices, 10) > 1_000_000:
		return usage("--first must be at least 1, and the device numbers stay below 1000000")
	case f.qos != 0 && f.qos != 1:
		return usage("--qos must be 0 or 1")
	}
	rate, err := fleet.ParseRate(f.rate)
	if err != nil {
		return usage("--rate: %v", err)
	}
	p, err := profile.Open(f.profile)
	if err != nil {
		return cfg, fmt.Errorf("--profile: %w", err)
	}
	qos := byte(f.qos)
	cfg = fleet.Config{
		Brokers: simSplit(f.brokers), Profile: p, Seed: f.seed, TopicPrefix: f.topicPrefix,
		ResponseTopic: f.responseTopic, Rate: rate, TickInterval: f.tick, QoS: &qos,
		KeepAlive: f.keepAlive, BootDelay: f.bootDelay,
	}
	for _, eid := range simSplit(f.controllers) {
		cfg.Controllers = append(cfg.Controllers, agent.Controller{EndpointID: eid})
	}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return cfg, fmt.Errorf("--tls-ca: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("--tls-ca %s: no PEM certificates in it", f.tlsCA)
		}
		cfg.TLS = &tls.Config{RootCAs: roots}
	}
	return cfg, nil
}

// deviceConfigs reads the devices from --credentials or provisions them.
func (f *simFlags) deviceConfigs(ctx context.Context, p *profile.Profile, log *slog.Logger) ([]fleet.DeviceConfig, error) {
	if f.credentials != "" {
		devs, err := readSimCredentials(f.credentials)
		if err != nil {
			return nil, err
		}
		switch {
		case f.devices > len(devs):
			return nil, fmt.Errorf("--devices %d: %s holds only %d devices", f.devices, f.credentials, len(devs))
		case f.devices > 0:
			devs = devs[:f.devices]
		}
		for i := range devs {
			devs[i].Index = f.first + i
		}
		return devs, nil
	}
	n := f.devices
	if n == 0 {
		n = 10
	}
	prefix := f.idPrefix
	if prefix == "" {
		prefix = "os::" + p.OUI + "-" + p.SerialPrefix
	}
	eids := make([]string, n)
	for i := range eids {
		eids[i] = fmt.Sprintf("%s%06d", prefix, f.first+i)
		if err := creds.ValidEndpointID(eids[i]); err != nil {
			return nil, fmt.Errorf("--id-prefix %q: %w", prefix, err)
		}
	}
	n2 := &credsNATS{url: f.natsURL, user: f.natsUser, password: f.natsPassword, bucket: f.credsBucket,
		revoked: creds.DefaultRevokedBucket, dataDir: f.dataDir}
	var devs []fleet.DeviceConfig
	var start time.Time // of the provisioning, after connecting
	err := n2.withStore(ctx, func(store *creds.Store) (err error) {
		start = time.Now()
		devs, err = provisionSimDevices(ctx, store, eids)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range devs {
		devs[i].Index = f.first + i
	}
	log.Info("provisioned device credentials", "devices", n, "first", eids[0], "took", time.Since(start).Round(time.Millisecond))
	// Give the brokers' credential mirrors a moment: a device refused for
	// a secret the broker has not seen yet counts towards the lockout of
	// this host's address.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}
	return devs, nil
}

// provisionSimDevices creates a device credential for each endpoint ID, or
// rotates the secret of an existing device credential (secrets are stored
// hashed, so an existing one cannot be reused).
func provisionSimDevices(ctx context.Context, store *creds.Store, eids []string) ([]fleet.DeviceConfig, error) {
	out := make([]fleet.DeviceConfig, len(eids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, eid := range eids {
		g.Go(func() error {
			_, secret, err := store.Add(gctx, creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
			if errors.Is(err, creds.ErrExists) {
				var c creds.Credential
				if c, err = store.Get(gctx, eid); err != nil {
					return fmt.Errorf("provisioning %s: %w", eid, err)
				}
				if c.Role != creds.RoleDevice || c.EndpointID != eid {
					return fmt.Errorf("provisioning %s: the username is taken by a %s credential for %q; not touching it", eid, c.Role, c.EndpointID)
				}
				secret, err = store.RotateSecret(gctx, eid)
			}
			if err != nil {
				return fmt.Errorf("provisioning %s: %w", eid, err)
			}
			out[i] = fleet.DeviceConfig{EndpointID: eid, Username: eid, Secret: secret}
			return nil
		})
	}
	return out, g.Wait()
}

// readSimCredentials reads a CSV of endpoint-id,username,secret lines (an
// optional header line with those names, '#' comments and blank lines are
// skipped); an empty username means the endpoint ID.
func readSimCredentials(file string) ([]fleet.DeviceConfig, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	r.TrimLeadingSpace = true
	var out []fleet.DeviceConfig
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("--credentials %s: %w", file, err)
		}
		line, _ := r.FieldPos(0)
		if len(out) == 0 && len(seen) == 0 && len(rec) == 3 && strings.EqualFold(rec[0], "endpoint-id") {
			seen[""] = line // the header
			continue
		}
		if len(rec) != 3 {
			return nil, fmt.Errorf("--credentials %s:%d: want endpoint-id,username,secret, got %d fields", file, line, len(rec))
		}
		eid, user, secret := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1]), rec[2]
		if err := creds.ValidEndpointID(eid); err != nil {
			return nil, fmt.Errorf("--credentials %s:%d: %w", file, line, err)
		}
		if secret == "" {
			return nil, fmt.Errorf("--credentials %s:%d: no secret for %s (secrets are printed once, by `cuttle creds add`)", file, line, eid)
		}
		if prev, dup := seen[eid]; dup {
			return nil, fmt.Errorf("--credentials %s:%d: %s already on line %d", file, line, eid, prev)
		}
		seen[eid] = line
		out = append(out, fleet.DeviceConfig{EndpointID: eid, Username: user, Secret: secret})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--credentials %s: no devices in it", file)
	}
	return out, nil
}
