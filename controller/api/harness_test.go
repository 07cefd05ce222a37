package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/broker"
	"cuttle/broker/creds"
	"cuttle/broker/lockout"
	"cuttle/controller"
	"cuttle/controller/api"
	"cuttle/controller/auth"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/internal/testutil"
	"cuttle/internal/testutil/brokertest"
	"cuttle/internal/testutil/credstest"
	"cuttle/simulator/profile"
)

// ctlEID is the endpoint ID of the controller under test.
const ctlEID = "self::cuttle-controller"

// The simulated devices most tests use.
const (
	dev1 = "os::012345-0001"
	dev2 = "os::012345-0002"
	dev3 = "os::012345-0003"
)

// env is the whole stack, in-process: embedded NATS, the credential store
// and the broker's mirror, a broker on 127.0.0.1:0 writing presence, a
// controller connected to it, the token store, the API behind an
// httptest.Server, and simulated devices.
type env struct {
	t       *testing.T
	js      jetstream.JetStream
	creds   *creds.Store
	mirror  *creds.Mirror
	broker  *broker.Broker
	ctl     *controller.Controller
	auth    *auth.Store
	api     *api.API
	srv     *httptest.Server
	reg     *prometheus.Registry
	profile *profile.Profile
	// tokens holds a secret per role, from tokens named after the role.
	tokens  map[auth.Role]string
	devices map[string]*simDevice
}

type envOptions struct {
	// devices are started, and waited for until online and subscribed.
	devices []string
	// heartbeat is the API's SSE heartbeat, statsInterval how often the
	// stats stream looks for changes.
	heartbeat, statsInterval time.Duration
	// mtpTimeout bounds each USP request (default 5 s).
	mtpTimeout time.Duration
	// trafficRing is the controller's TrafficRing (0: the default size,
	// negative: the inspector is off).
	trafficRing int
}

// newEnv starts the stack; everything stops at the test's cleanup.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, tokens: map[auth.Role]string{}, devices: map[string]*simDevice{}}
	cs := credstest.Start(t, creds.MirrorConfig{})
	e.js, e.creds, e.mirror = cs.JS, cs.Store, cs.Mirror
	ctx := t.Context()
	e.broker = brokertest.Run(t, broker.Config{
		NodeName:    "test-node",
		Listeners:   []broker.ListenerConfig{{Name: "tcp", Type: broker.ListenerTCP, Addr: "127.0.0.1:0"}},
		Credentials: e.mirror,
		Presence:    brokertest.Presence(t, e.js),
		Lockout:     lockout.Config{MaxFailures: 1000, Window: time.Minute, BaseLockout: time.Minute},
		Registerer:  prometheus.NewRegistry(),
		Logger:      testLogger(),
	})

	ctlSecret := e.addCred(creds.RoleController, ctlEID)
	if o.mtpTimeout == 0 {
		o.mtpTimeout = 5 * time.Second
	}
	e.reg = prometheus.NewRegistry()
	var err error
	e.ctl, err = controller.New(ctx, controller.Config{
		MTP: mqttmtp.Config{
			Brokers: []string{"mqtt://" + e.broker.Addr("tcp")}, Username: ctlEID, Password: ctlSecret,
			Timeout: o.mtpTimeout, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		},
		JetStream:      e.js,
		TrafficRing:    o.trafficRing,
		RequestTimeout: 5 * time.Second,
		Logger:         testLogger(),
		Registerer:     e.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "controller", 15*time.Second, e.ctl.Run)
	select {
	case <-e.ctl.MTP().Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("controller not connected after 10 s")
	}

	if e.auth, err = auth.Open(ctx, auth.Config{JetStream: e.js, Logger: testLogger()}); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "token store", 15*time.Second, e.auth.Run)
	for _, role := range auth.Roles() {
		_, secret, err := e.auth.Create(ctx, string(role), role, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = secret
	}

	e.api, err = api.New(api.Config{
		Controller: e.ctl, Auth: e.auth, Creds: e.creds, Logger: testLogger(),
		Registerer: e.reg, Gatherer: e.reg, Heartbeat: o.heartbeat, StatsInterval: o.statsInterval,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api.Handler())
	t.Cleanup(e.srv.Close)

	e.profile, err = profile.Builtin(profile.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	e.profile.DownloadSeconds = 1 // firmware downloads complete within a test
	for i, eid := range o.devices {
		e.devices[eid] = e.startDevice(eid, i+1)
	}
	for _, eid := range o.devices {
		e.waitDevice(eid, func(d inventory.Device) bool {
			return d.Status == inventory.StatusOnline && d.Subscribed && d.Model != ""
		}, "online, described and subscribed")
	}
	return e
}

// addCred provisions a credential named after eid and waits until the
// broker's mirror has it; it returns the secret.
func (e *env) addCred(role creds.Role, eid string) string {
	e.t.Helper()
	_, secret, err := e.creds.Add(e.t.Context(), creds.AddRequest{Role: role, EndpointID: eid})
	if err != nil {
		e.t.Fatal(err)
	}
	testutil.Eventually(e.t, 10*time.Second, "mirror has "+eid, func() bool { _, ok := e.mirror.Lookup(eid); return ok })
	return secret
}

// waitDevice waits until the inventory's record of eid satisfies ok.
func (e *env) waitDevice(eid string, ok func(inventory.Device) bool, what string) inventory.Device {
	e.t.Helper()
	var d inventory.Device
	testutil.Eventually(e.t, 15*time.Second, eid+" "+what, func() bool {
		var found bool
		d, found = e.ctl.Inventory().Get(eid)
		return found && ok(d)
	})
	return d
}

// testLogger discards logs unless CUTTLE_TEST_LOG is set.
func testLogger() *slog.Logger { return testutil.LoggerFromEnv("CUTTLE_TEST_LOG") }

// response is an HTTP response, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// request describes a call to the API.
type request struct {
	method, path string
	// token is the bearer secret; "" sends none.
	token string
	// body is sent as JSON, unless it is a string or []byte, which are sent
	// as they are.
	body any
	// header adds headers; Content-Type defaults to application/json when
	// there is a body.
	header map[string]string
}

// do sends req to the API's test server, and checks the response against
// openapi.json.
func (e *env) do(req request) (r response) {
	e.t.Helper()
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequestWithContext(e.t.Context(), req.method, e.srv.URL+req.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", req.method, req.path, err)
	}
	r = response{status: resp.StatusCode, header: resp.Header, body: data}
	if msg := checkResponse(req.method, req.path, r); msg != "" {
		e.t.Errorf("%s %s: the response does not match openapi.json: %s\n%s", req.method, req.path, msg, data)
	}
	return r
}

// call sends req as the admin unless it names a token, checks the status
// and decodes the JSON body into out (when not nil).
func (e *env) call(req request, want int, out any) response {
	e.t.Helper()
	if req.token == "" {
		req.token = e.tokens[auth.RoleAdmin]
	}
	r := e.do(req)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body: %s", req.method, req.path, r.status, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("%s %s: decoding %s: %v", req.method, req.path, r.body, err)
		}
	}
	return r
}

// problem is the JSON body of a problem response.
type problem struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Status      int    `json:"status"`
	Detail      string `json:"detail"`
	Instance    string `json:"instance"`
	RequestID   string `json:"request_id"`
	USPCode     uint32 `json:"usp_code"`
	USPName     string `json:"usp_name"`
	ParamErrors []struct {
		Param   string `json:"param"`
		Code    uint32 `json:"code"`
		Name    string `json:"name"`
		Message string `json:"message"`
	} `json:"param_errors"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
		USPCode uint32 `json:"usp_code"`
	} `json:"errors"`
}

// wantProblem checks that r is a problem response of the given status and
// type, complete with instance and request ID, and returns it.
func wantProblem(t testing.TB, r response, status int, slug string) problem {
	t.Helper()
	var p problem
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; status %d, body %s", ct, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decoding problem %s: %v", r.body, err)
	}
	want := "https://cuttle.dev/problems/" + slug
	if r.status != status || p.Status != status || p.Type != want {
		t.Fatalf("got status %d (body %d), type %q; want %d, %q; body %s", r.status, p.Status, p.Type, status, want, r.body)
	}
	if p.Title == "" || p.Instance == "" || p.RequestID == "" || p.RequestID != r.header.Get("X-Request-ID") {
		t.Fatalf("incomplete problem (title, instance, request_id matching X-Request-ID): %s; X-Request-ID %q", r.body, r.header.Get("X-Request-ID"))
	}
	return p
}

// fieldsOf lists a problem's field errors as "field: usp_code".
func fieldsOf(p problem) string {
	var out []string
	for _, f := range p.Errors {
		out = append(out, fmt.Sprintf("%s:%d", f.Field, f.USPCode))
	}
	return strings.Join(out, " ")
}

// devicePath is the API path of a device, its endpoint ID escaped as one
// path segment.
func devicePath(eid string, rest ...string) string {
	p := "/api/v1/devices/" + url.PathEscape(eid)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}
