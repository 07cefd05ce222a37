package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cuttle/broker/creds"
	"cuttle/embednats"
	"cuttle/internal/natstest"
	"cuttle/internal/testutil"
)

// credsEnv runs `cuttle creds` in-process against one embedded NATS.
type credsEnv struct {
	t     *testing.T
	ns    *embednats.Server
	store *creds.Store
}

func newCredsEnv(t *testing.T) *credsEnv {
	t.Helper()
	ns := natstest.Start(t)
	_, js := natstest.JetStream(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := creds.OpenStore(ctx, creds.StoreConfig{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	return &credsEnv{t: t, ns: ns, store: store}
}

// run runs `cuttle creds args... --nats <url>` with stdin and returns stdout,
// stderr and the error.
func (e *credsEnv) run(stdin string, args ...string) (string, string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	c := credsCLI{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string {
			if k == "CUTTLE_NATS_URL" {
				return e.ns.ClientURL()
			}
			return ""
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.run(ctx, args)
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and returns its stdout.
func (e *credsEnv) ok(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run("", args...)
	if err != nil {
		e.t.Fatalf("cuttle creds %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (e *credsEnv) get(username string) creds.Credential {
	e.t.Helper()
	c, err := e.store.Get(context.Background(), username)
	if err != nil {
		e.t.Fatalf("Get(%q): %v", username, err)
	}
	return c
}

type addOutput struct {
	Username   string `json:"username"`
	EndpointID string `json:"endpoint_id"`
	Role       string `json:"role"`
	Secret     string `json:"secret"`
}

func TestCredsAddTable(t *testing.T) {
	e := newCredsEnv(t)
	out, errOut, err := e.run("", "add", "--role", "device", "--endpoint-id", "os::012345-0001")
	if err != nil {
		t.Fatal(err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "USERNAME") {
		t.Fatalf("table output:\n%s", out)
	}
	f := strings.Fields(lines[1])
	if len(f) != 4 || f[0] != "os::012345-0001" || f[1] != "device" || f[2] != "os::012345-0001" {
		t.Fatalf("row %q", lines[1])
	}
	if !e.get("os::012345-0001").Verify(f[3]) {
		t.Fatal("the printed secret does not verify")
	}
	if !strings.Contains(errOut, "only this once") {
		t.Errorf("no warning that the secret is shown once: %q", errOut)
	}
}

func TestCredsAddJSONAndCSV(t *testing.T) {
	e := newCredsEnv(t)
	out := e.ok("add", "--role", "controller", "--endpoint-id", "self::ctl", "--username", "ctl-1", "-o", "json")
	var got addOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	if got.Username != "ctl-1" || got.EndpointID != "self::ctl" || got.Role != "controller" || !e.get("ctl-1").Verify(got.Secret) {
		t.Fatalf("json output %+v", got)
	}

	out = e.ok("add", "--role=device", "--endpoint-id=os::012345-0002", "-o", "csv")
	rec, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rec) != 1 || len(rec[0]) != 3 {
		t.Fatalf("csv output %q: %v", out, err)
	}
	if rec[0][0] != "os::012345-0002" || rec[0][1] != "os::012345-0002" || !e.get("os::012345-0002").Verify(rec[0][2]) {
		t.Fatalf("csv row %q", rec[0])
	}
}

func TestCredsAddPasswordStdin(t *testing.T) {
	e := newCredsEnv(t)
	out, errOut, err := e.run("a long chosen password\n", "add", "--role", "admin", "--username", "ops", "--password-stdin", "-o", "json")
	if err != nil {
		t.Fatal(err, errOut)
	}
	if strings.Contains(out, "a long chosen password") {
		t.Error("the chosen password was echoed")
	}
	c := e.get("ops")
	if c.SecretKind() != "password" || !c.Verify("a long chosen password") {
		t.Fatalf("stored %+v (kind %s)", c, c.SecretKind())
	}
	if _, _, err := e.run("short\n", "add", "--role", "admin", "--username", "ops2", "--password-stdin"); !errors.Is(err, creds.ErrInvalid) {
		t.Errorf("short password: %v, want ErrInvalid", err)
	}
}

func TestCredsAddBulk(t *testing.T) {
	e := newCredsEnv(t)
	out := e.ok("add", "--role", "device", "--count", "3", "--id-prefix", "os::012345-SIM")
	rec, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rec) != 3 {
		t.Fatalf("csv output %q: %v", out, err)
	}
	for i, r := range rec {
		eid := fmt.Sprintf("os::012345-SIM%06d", i+1)
		if r[0] != eid || r[1] != eid || !e.get(eid).Verify(r[2]) {
			t.Errorf("row %d = %q", i, r)
		}
	}

	out = e.ok("add", "--role", "device", "--count", "2", "--id-prefix", "os::012345-JS", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("json lines output %q", out)
	}
	var got addOutput
	if err := json.Unmarshal([]byte(lines[1]), &got); err != nil || got.EndpointID != "os::012345-JS000002" {
		t.Fatalf("line %q: %+v, %v", lines[1], got, err)
	}

	// A clash stops the run but keeps what was printed.
	out, _, err = e.run("", "add", "--role", "device", "--count", "4", "--id-prefix", "os::012345-SIM")
	if !errors.Is(err, creds.ErrExists) || out != "" {
		t.Fatalf("bulk add over existing IDs: out %q, err %v", out, err)
	}
}

func TestCredsAddErrors(t *testing.T) {
	e := newCredsEnv(t)
	e.ok("add", "--role", "device", "--endpoint-id", "os::012345-0001")
	cases := []struct {
		name string
		args []string
		want error
	}{
		{"duplicate", []string{"add", "--role", "device", "--endpoint-id", "os::012345-0001"}, creds.ErrExists},
		{"bad role", []string{"add", "--role", "king", "--endpoint-id", "os::012345-0002"}, creds.ErrInvalid},
		{"missing endpoint ID", []string{"add", "--role", "device"}, creds.ErrInvalid},
		{"invalid endpoint ID", []string{"add", "--role", "device", "--endpoint-id", "os::a/b"}, creds.ErrInvalid},
		{"missing role", []string{"add", "--endpoint-id", "os::012345-0002"}, errUsage},
		{"count without prefix", []string{"add", "--role", "device", "--count", "2"}, errUsage},
		{"count with endpoint ID", []string{"add", "--role", "device", "--count", "2", "--id-prefix", "os::x", "--endpoint-id", "os::y"}, errUsage},
		{"bad output", []string{"add", "--role", "device", "--endpoint-id", "os::012345-0002", "-o", "xml"}, errUsage},
		{"unknown flag", []string{"add", "--rol", "device"}, errUsage},
		{"stray argument", []string{"add", "--role", "device", "os::012345-0002"}, errUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, err := e.run("", c.args...)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want == errUsage && !strings.Contains(errOut, "Usage: cuttle creds add") {
				t.Errorf("no usage on stderr: %q", errOut)
			}
		})
	}
}

type lsItem struct {
	Username   string `json:"username"`
	EndpointID string `json:"endpoint_id"`
	Role       string `json:"role"`
	Disabled   bool   `json:"disabled"`
	SecretKind string `json:"secret_kind"`
}

func (e *credsEnv) ls() []lsItem {
	e.t.Helper()
	var items []lsItem
	if err := json.Unmarshal([]byte(e.ok("ls", "-o", "json")), &items); err != nil {
		e.t.Fatal(err)
	}
	return items
}

func TestCredsLsDisableEnableRm(t *testing.T) {
	e := newCredsEnv(t)
	e.ok("add", "--role", "device", "--endpoint-id", "os::012345-0002")
	e.ok("add", "--role", "device", "--endpoint-id", "os::012345-0001")
	if items := e.ls(); len(items) != 2 || items[0].Username != "os::012345-0001" || items[0].Role != "device" ||
		items[0].EndpointID != "os::012345-0001" || items[0].Disabled || items[0].SecretKind != "token" {
		t.Fatalf("ls = %+v", items)
	}
	table := e.ok("ls")
	if !strings.Contains(table, "os::012345-0001  device  os::012345-0001  enabled") {
		t.Errorf("ls table:\n%s", table)
	}

	// Flags after the positional arguments work too.
	if out := e.ok("disable", "os::012345-0001", "--bucket", creds.DefaultBucket); out != "disabled os::012345-0001\n" {
		t.Errorf("disable printed %q", out)
	}
	if items := e.ls(); !items[0].Disabled || items[1].Disabled {
		t.Fatalf("after disable: %+v", items)
	}
	if !strings.Contains(e.ok("ls"), "disabled") {
		t.Error("ls table does not show the disabled state")
	}
	e.ok("enable", "os::012345-0001")
	if items := e.ls(); items[0].Disabled {
		t.Fatalf("after enable: %+v", items)
	}

	if out := e.ok("rm", "os::012345-0001", "os::012345-0002"); out != "removed os::012345-0001\nremoved os::012345-0002\n" {
		t.Errorf("rm printed %q", out)
	}
	if items := e.ls(); len(items) != 0 {
		t.Fatalf("after rm: %+v", items)
	}
	if _, _, err := e.run("", "rm", "os::012345-0001"); !errors.Is(err, creds.ErrNotFound) {
		t.Errorf("rm of a missing credential: %v", err)
	}
	if _, _, err := e.run("", "disable"); !errors.Is(err, errUsage) {
		t.Errorf("disable without a username: %v", err)
	}
}

func TestCredsRotate(t *testing.T) {
	e := newCredsEnv(t)
	var first addOutput
	_ = json.Unmarshal([]byte(e.ok("add", "--role", "device", "--endpoint-id", "os::012345-0001", "-o", "json")), &first)
	var rotated addOutput
	if err := json.Unmarshal([]byte(e.ok("rotate", "os::012345-0001", "-o", "json")), &rotated); err != nil {
		t.Fatal(err)
	}
	c := e.get("os::012345-0001")
	if rotated.Secret == "" || c.Verify(first.Secret) || !c.Verify(rotated.Secret) {
		t.Fatalf("rotate: old verifies %v, new verifies %v", c.Verify(first.Secret), c.Verify(rotated.Secret))
	}
}

func TestCredsRevokeCert(t *testing.T) {
	e := newCredsEnv(t)
	if out := e.ok("revoke-cert", "serial:0A:BC:DE", "--reason", "stolen"); out != "revoked serial:0abcde\n" {
		t.Errorf("revoke-cert printed %q", out)
	}
	fp := strings.Repeat("AB", 32)
	e.ok("revoke-cert", "sha256:"+fp)
	out := e.ok("revoked")
	if !strings.Contains(out, "serial:0abcde") || !strings.Contains(out, "stolen") || !strings.Contains(out, strings.ToLower(fp)) {
		t.Errorf("revoked:\n%s", out)
	}
	var list []creds.Revocation
	if err := json.Unmarshal([]byte(e.ok("revoked", "-o", "json")), &list); err != nil || len(list) != 2 {
		t.Fatalf("revoked -o json: %+v, %v", list, err)
	}
	e.ok("unrevoke-cert", "serial:abcde")
	if _, _, err := e.run("", "unrevoke-cert", "serial:abcde"); !errors.Is(err, creds.ErrNotFound) {
		t.Errorf("second unrevoke: %v", err)
	}
	if _, _, err := e.run("", "revoke-cert", "md5:abcd"); !errors.Is(err, creds.ErrInvalid) {
		t.Errorf("bad spec: %v", err)
	}
}

func TestCredsUnreachableNATS(t *testing.T) {
	url := "nats://" + testutil.RefusedAddr(t)
	var out, errOut bytes.Buffer
	c := credsCLI{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	begin := time.Now()
	err := c.run(context.Background(), []string{"ls", "--nats", url})
	if err == nil || !strings.Contains(err.Error(), "cannot reach NATS at "+url) {
		t.Fatalf("err = %v, want one naming the unreachable NATS", err)
	}
	if d := time.Since(begin); d > credsConnectTimeout+time.Second {
		t.Errorf("took %s to fail", d)
	}
}

func TestCredsNATSAuth(t *testing.T) {
	ns, err := embednats.Start(embednats.Config{Port: embednats.RandomPort, DataDir: t.TempDir(), User: "cuttle", Password: "nats-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	env := map[string]string{"CUTTLE_NATS_URL": ns.ClientURL()}
	run := func() (string, error) {
		var out, errOut bytes.Buffer
		c := credsCLI{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
		err := c.run(context.Background(), []string{"ls"})
		return out.String(), err
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), "--nats-user") {
		t.Fatalf("without NATS credentials: %v, want a hint at --nats-user", err)
	}
	env["CUTTLE_NATS_USER"], env["CUTTLE_NATS_PASSWORD"] = "cuttle", "nats-secret-1"
	if out, err := run(); err != nil || !strings.HasPrefix(out, "USERNAME") {
		t.Fatalf("with NATS credentials from the environment: %q, %v", out, err)
	}
}

func TestCredsUsage(t *testing.T) {
	e := newCredsEnv(t)
	for _, args := range [][]string{nil, {"bogus"}} {
		_, errOut, err := e.run("", args...)
		if !errors.Is(err, errUsage) || !strings.Contains(errOut, "revoke-cert") {
			t.Errorf("%q: err %v, stderr %q", args, err, errOut)
		}
	}
	if _, errOut, err := e.run("", "help"); err != nil || !strings.Contains(errOut, "Commands:") {
		t.Errorf("help: %v, %q", err, errOut)
	}
	if _, errOut, err := e.run("", "ls", "-h"); !errors.Is(err, errUsage) || !strings.Contains(errOut, "-nats") {
		t.Errorf("ls -h: %v, %q", err, errOut)
	}
}

// The command is reachable from cuttle's top-level dispatcher.
func TestCredsRegistered(t *testing.T) {
	ns := natstest.Start(t)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"creds", "ls", "--nats", ns.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("cuttle creds ls: %v (%s)", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "USERNAME") {
		t.Errorf("output %q", out.String())
	}
}

func TestRedactNATSURL(t *testing.T) {
	got := redactNATSURL("nats://u:secret@a:4222,nats://b:4222")
	if strings.Contains(got, "secret") || !strings.Contains(got, "nats://b:4222") {
		t.Errorf("redactNATSURL = %q", got)
	}
}
