package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/options"
)

// healthTargets are the components `cuttle health` knows, with the URL it
// checks by default. The probes run inside the component's container, so
// loopback reaches the broker's metrics listener, which is loopback-only
// by default.
var healthTargets = map[string]string{
	"broker":     "http://127.0.0.1:9183/readyz",
	"controller": "http://127.0.0.1:8080/readyz",
	"nats":       "nats://127.0.0.1:4222",
}

// errUnhealthy marks a probe that reached its target and was told no, or
// could not reach it.
var errUnhealthy = errors.New("unhealthy")

type healthFlags struct {
	target       string
	addr         string
	timeout      time.Duration
	natsUser     string
	natsPassword string
}

func (f *healthFlags) define(s *options.Set) {
	s.String(&f.target, "health-target", "", "what to check when no argument is given: broker, controller, nats or a URL")
	s.String(&f.addr, "health-addr", "", "host:port replacing that of the target's default URL")
	s.Duration(&f.timeout, "health-timeout", 3*time.Second, "how long the check may take")
	s.String(&f.natsUser, "nats-user", "", "NATS user, for nats targets")
	s.String(&f.natsPassword, "nats-password", "", "NATS password, for nats targets; prefer CUTTLE_NATS_PASSWORD")
}

// runHealth is `cuttle health`: exit status 0 when the target is healthy, 1
// when not, for Docker's HEALTHCHECK in an image that has no curl. An HTTP
// target is healthy when it answers 2xx; a NATS target when JetStream
// answers an account-info request, which on a cluster needs a meta leader.
func runHealth(ctx context.Context, args []string, stdout io.Writer) error {
	var f healthFlags
	set := options.New("health", os.Stderr)
	set.FlagSet().Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: cuttle health [flags] [broker|controller|nats|URL]\n\nExits 0 when the target is healthy, 1 when it is not. With no argument the\ntarget is CUTTLE_HEALTH_TARGET. Defaults: broker %s, controller %s, nats %s.\n\nFlags:\n",
			healthTargets["broker"], healthTargets["controller"], healthTargets["nats"])
		set.FlagSet().PrintDefaults()
	}
	f.define(set)
	if err := parseOptions(set, args, nil); err != nil {
		return helpOK(err)
	}
	switch rest := set.FlagSet().Args(); len(rest) {
	case 0:
	case 1:
		f.target = rest[0]
	default:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, rest[1])
	}
	u, err := f.url()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if u.Scheme == "nats" {
		err = f.checkNATS(ctx, u)
	} else {
		err = checkHTTP(ctx, u)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errUnhealthy, u.Redacted(), err)
	}
	fmt.Fprintf(stdout, "ok %s\n", u.Redacted())
	return nil
}

// url resolves the target to the URL to check.
func (f *healthFlags) url() (*url.URL, error) {
	raw := f.target
	if raw == "" {
		return nil, fmt.Errorf("%w: what to check? give broker, controller, nats or a URL (or set CUTTLE_HEALTH_TARGET)", errUsage)
	}
	if def, ok := healthTargets[raw]; ok {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: health target %q: want broker, controller, nats or an http://, https:// or nats:// URL", errUsage, f.target)
	}
	switch u.Scheme {
	case "http", "https", "nats":
	default:
		return nil, fmt.Errorf("%w: health target %q: scheme must be http, https or nats", errUsage, f.target)
	}
	if f.addr != "" {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			return nil, fmt.Errorf("%w: health-addr %q: %v", errUsage, f.addr, err)
		}
		u.Host = f.addr
	}
	return u, nil
}

func checkHTTP(ctx context.Context, u *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func (f *healthFlags) checkNATS(ctx context.Context, u *url.URL) error {
	opts := []nats.Option{nats.Name("cuttle health"), nats.MaxReconnects(0)}
	if deadline, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(deadline)))
	}
	if u.User == nil && f.natsUser != "" {
		opts = append(opts, nats.UserInfo(f.natsUser, f.natsPassword))
	}
	nc, err := nats.Connect(u.String(), opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}
	return nil
}
