package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/controller"
	"cuttle/controller/api"
	"cuttle/controller/auth"
	"cuttle/controller/jobs"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
	"cuttle/simulator/agent"
	"cuttle/simulator/fleet"
	"cuttle/simulator/profile"
)

// apiEnv is the whole stack in-process, as controller/api's tests start it:
// embedded NATS, the credential store and the broker's mirror, a broker on
// 127.0.0.1:0, a controller, the token store, the API (with the bulk jobs
// mounted) behind an httptest.Server, and a fleet of simulated devices.
type apiEnv struct {
	t       *testing.T
	srv     *httptest.Server
	ctl     *controller.Controller
	creds   *creds.Store
	tokens  map[auth.Role]string
	devices []string
	// dataDir holds admin.token, as `cuttle up` writes it.
	dataDir string
	// http records every response the CLI receives.
	http *recorder
}

const testControllerID = "self::cuttle-controller"

func newAPIEnv(t *testing.T, devices int) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, tokens: map[auth.Role]string{}, dataDir: t.TempDir()}
	ctx := t.Context()
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cs := credstest.Start(t, creds.MirrorConfig{})
	js, mirror := cs.JS, cs.Mirror
	e.creds = cs.Store
	pres := brokertest.Presence(t, js)
	b := brokertest.Run(t, broker.Config{
		NodeName:    "test-node",
		Listeners:   []broker.ListenerConfig{{Name: "tcp", Type: broker.ListenerTCP, Addr: "127.0.0.1:0"}},
		Credentials: mirror, Presence: pres,
		Lockout: lockout.Config{MaxFailures: 1000, Window: time.Minute, BaseLockout: time.Minute},
	})
	brokerURL := "mqtt://" + b.Addr("tcp")

	_, ctlSecret, err := e.creds.Add(ctx, creds.AddRequest{Role: creds.RoleController, EndpointID: testControllerID})
	check(err)
	p, err := profile.Builtin(profile.DefaultName)
	check(err)
	p.DownloadSeconds = 1
	for i := range devices {
		e.devices = append(e.devices, p.EndpointID(i+1))
	}
	devs, err := provisionSimDevices(ctx, e.creds, e.devices)
	check(err)
	testutil.Eventually(t, 20*time.Second, "credentials in the mirror", func() bool {
		_, ok := mirror.Lookup(e.devices[len(e.devices)-1])
		return ok && mirror.HasController(testControllerID)
	})

	reg := prometheus.NewRegistry()
	e.ctl, err = controller.New(ctx, controller.Config{
		MTP: mqttmtp.Config{Brokers: []string{brokerURL}, Username: testControllerID, Password: ctlSecret,
			Timeout: 5 * time.Second, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond},
		JetStream: js, RequestTimeout: 5 * time.Second, Registerer: reg,
	})
	check(err)
	testutil.Run(t, "controller", 15*time.Second, e.ctl.Run)
	tokens, err := auth.Open(ctx, auth.Config{JetStream: js})
	check(err)
	testutil.Run(t, "token store", 15*time.Second, tokens.Run)
	for _, role := range auth.Roles() {
		_, secret, err := tokens.Create(ctx, string(role), role, "test", 0)
		check(err)
		e.tokens[role] = secret
	}
	check(os.WriteFile(filepath.Join(e.dataDir, "admin.token"), []byte(e.tokens[auth.RoleAdmin]+"\n"), 0o600))

	a, err := api.New(api.Config{Controller: e.ctl, Auth: tokens, Creds: e.creds, Registerer: reg, Gatherer: reg})
	check(err)
	mgr, err := jobs.New(ctx, jobs.Config{JetStream: js, USP: e.ctl.MTP(), Inventory: e.ctl.Inventory(),
		FlushInterval: 50 * time.Millisecond, ShutdownGrace: 100 * time.Millisecond})
	check(err)
	testutil.Run(t, "jobs", 15*time.Second, mgr.Run)
	var routes []api.Route
	for _, r := range jobs.Routes() {
		routes = append(routes, api.Route{Method: r.Method, Path: r.Path, Action: r.Action})
	}
	check(a.MountHandler("/api/v1/jobs", mgr.Handler(jobs.HandlerOptions{RequestID: api.RequestID}), routes))
	check(a.ExtendOpenAPI(jobs.MergeOpenAPI))
	e.srv = httptest.NewServer(a.Handler())
	t.Cleanup(e.srv.Close)
	e.http = &recorder{next: e.srv.Client().Transport}

	f, err := fleet.New(fleet.Config{Brokers: []string{brokerURL}, Devices: devs, Profile: p, Rate: 1000,
		TickInterval: 100 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		Controllers: []agent.Controller{{EndpointID: testControllerID, Topic: "usp/v1/controller/" + testControllerID}}})
	check(err)
	testutil.Run(t, "fleet", 15*time.Second, f.Run)
	for _, eid := range e.devices {
		e.waitDevice(eid, "online and described", func(d inventory.Device) bool {
			return d.Status == inventory.StatusOnline && d.Subscribed && d.Model != ""
		})
	}
	return e
}

func (e *apiEnv) waitDevice(eid, what string, ok func(inventory.Device) bool) {
	e.t.Helper()
	testutil.Eventually(e.t, 20*time.Second, eid+" "+what, func() bool {
		d, found := e.ctl.Inventory().Get(eid)
		return found && ok(d)
	})
}

// cli returns an apiCLI talking to the test server with token (none when
// empty), with environment env on top of CUTTLE_SERVER.
func (e *apiEnv) cli(token string, env map[string]string) (*apiCLI, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	vars := map[string]string{"CUTTLE_SERVER": e.srv.URL, "CUTTLE_TOKEN": token}
	for k, v := range env {
		vars[k] = v
	}
	return &apiCLI{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return vars[k] },
		http: &http.Client{Transport: e.http}}, &stdout, &stderr
}

// runAs runs a CLI command (its first word picks it) with token.
func (e *apiEnv) runAs(token string, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	c, out, errOut := e.cli(token, nil)
	err = c.dispatch(e.t.Context(), args[0], args[1:])
	return out.String(), errOut.String(), err
}

// run runs a CLI command as the admin.
func (e *apiEnv) run(args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	return e.runAs(e.tokens[auth.RoleAdmin], args...)
}

// ok runs a CLI command as the admin and fails the test if it fails.
func (e *apiEnv) ok(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("cuttle %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// wantExit runs a CLI command as the admin and checks its exit status; it
// returns the error's text and stderr.
func (e *apiEnv) wantExit(code int, args ...string) (string, string) {
	e.t.Helper()
	return e.wantExitAs(e.tokens[auth.RoleAdmin], code, args...)
}

func (e *apiEnv) wantExitAs(token string, code int, args ...string) (string, string) {
	e.t.Helper()
	_, errOut, err := e.runAs(token, args...)
	if got := exitCode(err); got != code {
		e.t.Fatalf("cuttle %s: exit status %d (%v), want %d\nstderr: %s", strings.Join(args, " "), got, err, code, errOut)
	}
	return err.Error(), errOut
}

// recorder is an http.RoundTripper that keeps every response body, so
// tests compare the CLI's output with exactly what the API sent.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex // guards bodies
	// bodies are the response bodies by "METHOD path", in order.
	bodies map[string][][]byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bodies == nil {
		r.bodies = map[string][][]byte{}
	}
	k := req.Method + " " + req.URL.Path
	r.bodies[k] = append(r.bodies[k], body)
	return resp, nil
}

// take returns and forgets the bodies received for "METHOD path".
func (r *recorder) take(key string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.bodies[key]
	delete(r.bodies, key)
	return b
}

// TestServerFromAPIFile checks that the API commands find a local `cuttle
// up` through the api.json it writes in its data directory, and that
// --server and CUTTLE_SERVER still win.
func TestServerFromAPIFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "cuttle-data")
	other := filepath.Join(dir, "elsewhere")
	for _, d := range []string{data, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "admin.token"), []byte("cut_"+filepath.Base(d)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeLocalAPI(data, "[::]:9191"); err != nil {
		t.Fatal(err)
	}
	if err := writeLocalAPI(other, "127.0.0.1:9292"); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(data, localAPIFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("api.json: %v, mode %v", err, info.Mode())
	}
	t.Chdir(dir)
	for _, tc := range []struct {
		name      string
		flags     connFlags
		env       map[string]string
		base, tok string
	}{
		{name: "./cuttle-data/api.json", base: "http://127.0.0.1:9191", tok: "cut_cuttle-data"},
		{name: "--data", flags: connFlags{data: "elsewhere"}, base: "http://127.0.0.1:9292", tok: "cut_elsewhere"},
		{name: "CUTTLE_DATA", env: map[string]string{"CUTTLE_DATA": "elsewhere"}, base: "http://127.0.0.1:9292", tok: "cut_elsewhere"},
		{name: "--server wins", flags: connFlags{server: "127.0.0.1:7000"}, base: "http://127.0.0.1:7000", tok: "cut_cuttle-data"},
		{name: "CUTTLE_SERVER wins", env: map[string]string{"CUTTLE_SERVER": "http://127.0.0.1:7001"}, base: "http://127.0.0.1:7001", tok: "cut_cuttle-data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &apiCLI{getenv: func(k string) string { return tc.env[k] }}
			api, err := c.client(&tc.flags)
			if err != nil || api.base != tc.base || api.token != tc.tok {
				t.Errorf("client: %v %+v, want %s with %s", err, api, tc.base, tc.tok)
			}
		})
	}

	// Without api.json, the default address.
	if err := os.Remove(filepath.Join(data, localAPIFile)); err != nil {
		t.Fatal(err)
	}
	c := &apiCLI{getenv: func(string) string { return "" }}
	if api, err := c.client(&connFlags{}); err != nil || api.base != defaultServer {
		t.Errorf("without api.json: %v %+v, want %s", err, api, defaultServer)
	}
}
