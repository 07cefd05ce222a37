package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
)

func writeSimFile(t *testing.T, content string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "creds.csv")
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestReadSimCredentials(t *testing.T) {
	good := "endpoint-id,username,secret\n# lab devices\nos::00D09E-HGW000001,os::00D09E-HGW000001,s1\n\nos::00D09E-HGW000002,,s2\n"
	devs, err := readSimCredentials(writeSimFile(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || devs[0].EndpointID != "os::00D09E-HGW000001" || devs[0].Secret != "s1" || devs[1].Username != "" {
		t.Errorf("devices %+v", devs)
	}
	tests := []struct{ name, content, want string }{
		{"empty", "", "no devices"},
		{"header only", "endpoint-id,username,secret\n", "no devices"},
		{"two fields", "os::00D09E-HGW000001,s1\n", ":1: want endpoint-id,username,secret, got 2 fields"},
		{"bad endpoint", "not-an-eid,u,s\n", ":1: invalid"},
		{"no secret", "os::00D09E-HGW000001,u,\n", "no secret"},
		{"duplicate", "os::00D09E-HGW000001,a,s\nos::00D09E-HGW000001,b,s\n", ":2: os::00D09E-HGW000001 already on line 1"},
		{"bad quoting", "os::00D09E-HGW000001,\"u,s\n", "extraneous or missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readSimCredentials(writeSimFile(t, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := readSimCredentials(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !strings.Contains(err.Error(), "--credentials: open") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSimUsage(t *testing.T) {
	creds := writeSimFile(t, "os::00D09E-HGW000001,u,s\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no devices source", nil, nil, "give --credentials FILE"},
		{"both sources", []string{"--credentials", creds, "--provision"}, nil, "exclude each other"},
		{"bad rate", []string{"--credentials", creds, "--rate", "fast"}, nil, "--rate"},
		{"bad qos", []string{"--credentials", creds, "--qos", "2"}, nil, "--qos"},
		{"bad broker", []string{"--credentials", creds, "--broker", "http://x"}, nil, "brokers[0]"},
		{"bad profile", []string{"--credentials", creds, "--profile", "toaster"}, nil, "--profile"},
		{"too many devices", []string{"--credentials", creds, "--devices", "5"}, nil, "holds only 1 devices"},
		{"missing file", []string{"--credentials", filepath.Join(t.TempDir(), "nope.csv")}, nil, "no such file"},
		{"stray argument", []string{"--credentials", creds, "extra"}, nil, `unexpected argument "extra"`},
		{"env broker", []string{"--credentials", creds}, map[string]string{"CUTTLE_BROKER": "mqtt://127.0.0.1:1,gopher://x"}, "brokers[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			c := simCLI{stdout: &out, stderr: &errOut, getenv: func(k string) string { return tt.env[k] }}
			err := c.run(context.Background(), tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSimHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := (simCLI{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}).run(context.Background(), []string{"-h"}); err != nil {
		t.Fatal(err)
	}
	help := errOut.String()
	for _, want := range []string{"-broker", "-credentials", "-provision", "-rate", "default mqtt://127.0.0.1:1883"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(help, "panic") {
		t.Errorf("help:\n%s", help)
	}
}

func TestSimRepeatableFlags(t *testing.T) {
	var f simFlags
	var errOut bytes.Buffer
	cli := simCLI{stderr: &errOut}
	set := newSimSet(&f, cli)
	if err := set.Parse([]string{"--broker", "mqtt://a:1883", "--broker", "mqtts://b:8883,ws://c/mqtt", "--controller", "self::x"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if got := simSplit(f.brokers); strings.Join(got, " ") != "mqtt://a:1883 mqtts://b:8883 ws://c/mqtt" {
		t.Errorf("brokers %q", got)
	}
	if got := simSplit(f.controllers); len(got) != 1 || got[0] != "self::x" {
		t.Errorf("controllers %q", got)
	}
	f = simFlags{}
	set = newSimSet(&f, cli)
	if err := set.Parse(nil, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if f.brokers != "mqtt://127.0.0.1:1883" || f.controllers != "self::cuttle-controller" {
		t.Errorf("defaults %q %q", f.brokers, f.controllers)
	}
}

// TestSimAgainstBroker runs `cuttle sim` against a real broker, first with
// --provision and then with a credentials file, until the status line shows
// every device connected.
func TestSimAgainstBroker(t *testing.T) {
	cs := credstest.Start(t, creds.MirrorConfig{})
	ns, store, ctx := cs.NATS, cs.Store, t.Context()
	b := brokertest.Run(t, broker.Config{
		Listeners:   []broker.ListenerConfig{{Name: "tcp", Type: broker.ListenerTCP, Addr: "127.0.0.1:0"}},
		Credentials: cs.Mirror,
	})
	if _, _, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleController, EndpointID: "self::sim-test"}); err != nil {
		t.Fatal(err)
	}
	common := []string{"--broker", "mqtt://" + b.Addr("tcp"), "--controller", "self::sim-test", "--status-interval", "50ms",
		"--rate", "100/s", "--log-level", "warn", "--data", t.TempDir()}

	// Twice with --provision: the second run rotates the secrets.
	for range 2 {
		out := runSimUntil(t, append([]string{"--provision", "--nats", ns.ClientURL(), "--devices", "3"}, common...), "connected 3/3")
		if strings.Contains(out, "last error") {
			t.Errorf("status:\n%s", out)
		}
	}
	c, err := store.Get(ctx, "os::00D09E-HGW000002")
	if err != nil || c.Role != creds.RoleDevice {
		t.Fatalf("provisioned credential: %+v, %v", c, err)
	}

	// A credentials file as `cuttle creds add -o csv` writes it.
	var lines []string
	for _, eid := range []string{"os::00D09E-LAB000001", "os::00D09E-LAB000002"} {
		_, secret, err := store.Add(ctx, creds.AddRequest{Role: creds.RoleDevice, EndpointID: eid})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, eid+","+eid+","+secret)
	}
	file := writeSimFile(t, strings.Join(lines, "\n")+"\n")
	runSimUntil(t, append([]string{"--credentials", file}, common...), "connected 2/2")
}

// runSimUntil runs `cuttle sim args...` until its output contains want,
// then stops it and returns the output.
func runSimUntil(t *testing.T, args []string, want string) string {
	t.Helper()
	sim := startCommand(t, "cuttle sim", func(ctx context.Context, stdout, stderr io.Writer) error {
		return simCLI{stdout: stdout, stderr: stderr, getenv: func(string) string { return "" }}.run(ctx, args)
	})
	sim.waitOutput(regexp.QuoteMeta(want), 20*time.Second)
	if err := sim.stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("cuttle sim: %v", err)
	}
	return sim.out.String()
}
