package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"cuttle/controller/auth"
)

// newFakeAPI serves h as the API, for what the real one cannot be made to
// do on demand.
func newFakeAPI(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// fakeCLI returns an apiCLI for the server at url with a token.
func fakeCLI(url string) (*apiCLI, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"CUTTLE_SERVER": url, "CUTTLE_TOKEN": "cut_test"}
	return &apiCLI{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }}, &stdout, &stderr
}

func testExitStatuses(t *testing.T, e *apiEnv) {
	msg, _ := e.wantExit(exitNotFound, "device", "show", "os::no-such-device")
	if !strings.HasPrefix(msg, "Not found") {
		t.Errorf("404: %q", msg)
	}
	e.wantExit(exitNotFound, "device", "get", "os::no-such-device", "Device.")
	e.wantExitAs("cut_not-a-real-token", exitUnauthorized, "device", "ls")
	e.wantExitAs(e.tokens[auth.RoleViewer], exitUnauthorized, "device", "operate", e.devices[0], "Device.Reboot()")

	for _, args := range [][]string{
		{"device"},
		{"device", "bogus"},
		{"device", "get", e.devices[0]},
		{"device", "show"},
		{"device", "show", "a", "b"},
		{"device", "ls", "-o", "xml"},
		{"device", "ls", "--nope"},
		{"device", "ls", "--limit", "0"},
		{"device", "ls", "--status", "sideways"}, // the API's 400
		{"events", "stray"},
		{"token"},
		{"job", "show"},
		{"completion", "fish"},
	} {
		e.wantExit(exitUsage, args...)
	}

	// -h prints the usage, with the exit statuses, and succeeds.
	_, stderr, err := e.run("device", "get", "-h")
	if err != nil || !strings.Contains(stderr, "Usage: cuttle device get [flags] ID PATH...") || !strings.Contains(stderr, "Exit status:") {
		t.Errorf("device get -h: %v\n%s", err, stderr)
	}
	_, stderr, err = e.run("device", "--help")
	if err != nil || !strings.Contains(stderr, "supported-dm") || !strings.Contains(stderr, "CUTTLE_SERVER") || !strings.Contains(stderr, "4  unauthorized") {
		t.Errorf("device --help: %v\n%s", err, stderr)
	}

	// No token anywhere.
	c, _, _ := e.cli("", map[string]string{"CUTTLE_DATA": t.TempDir()})
	err = c.dispatch(t.Context(), "device", []string{"ls"})
	if exitCode(err) != exitUnauthorized || !strings.Contains(err.Error(), "no API token") {
		t.Errorf("no token: %v", err)
	}
	// No API there.
	c, _, _ = e.cli("cut_x", map[string]string{"CUTTLE_SERVER": "http://127.0.0.1:1"})
	err = c.dispatch(t.Context(), "device", []string{"ls"})
	if exitCode(err) != exitFailure || !errors.Is(err, errUnreachable) {
		t.Errorf("no API: %v", err)
	}
}

func TestExitWith(t *testing.T) {
	for _, tc := range []struct {
		err    error
		exit   int // -1: not called
		stderr string
	}{
		{nil, -1, ""},
		{errUsage, -1, ""},
		{&partialError{"get: 1 failure"}, -1, ""},
		{&apiError{Status: 404, Title: "Not found", Detail: "no device"}, 3, "cuttle: Not found: no device\n"},
		{&apiError{Status: 403, Title: "Forbidden"}, 4, "cuttle: Forbidden\n"},
		{&noTokenError{"x/admin.token"}, 4, "cuttle: no API token"},
		{&apiError{Status: 503, Title: "The device cannot be reached"}, -1, ""},
	} {
		var stderr bytes.Buffer
		code := -1
		err := exitWith(tc.err, &stderr, func(c int) { code = c })
		if code != tc.exit || !strings.HasPrefix(stderr.String(), tc.stderr) || err != tc.err {
			t.Errorf("exitWith(%v): exit %d, stderr %q, err %v; want exit %d, stderr %q", tc.err, code, stderr.String(), err, tc.exit, tc.stderr)
		}
	}
}

func TestAPIErrorText(t *testing.T) {
	e := &apiError{Status: 422, Title: "The device answered with a USP error", Detail: "7004 InvalidArguments: bad",
		USPCode: 7004, USPName: "InvalidArguments", USPMessage: "bad",
		ParamErrors: []uspError{{Param: "Device.X.Y", Code: 7013, Name: "ParamReadOnly", Message: "read only"}}}
	want := "The device answered with a USP error: 7004 InvalidArguments: bad\n  Device.X.Y: 7013 ParamReadOnly: read only"
	if e.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", e.Error(), want)
	}
	e = &apiError{Status: 400, Title: "Invalid request", Detail: "The request has invalid fields.", Errors: []apiFieldError{
		{Field: "paths[0]", Message: "bad path", USPCode: 7026}, {Field: "limit", Message: "too big"}}}
	want = "Invalid request: The request has invalid fields.\n  paths[0]: bad path (USP 7026)\n  limit: too big"
	if e.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", e.Error(), want)
	}
	e = &apiError{Status: 400, Title: "Invalid request", Detail: "paths[0]: bad path", Errors: []apiFieldError{{Field: "paths[0]", Message: "bad path", USPCode: 7026}}}
	if want = "Invalid request: paths[0]: bad path (USP 7026)"; e.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", e.Error(), want)
	}
	// Not a problem document: the status and the body's start.
	srv := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer cut_test" || !strings.HasPrefix(r.Header.Get("X-Request-ID"), "cli-") {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	c, _, _ := fakeCLI(srv.URL)
	err := c.dispatch(t.Context(), "device", []string{"ls"})
	var apiErr *apiError
	if !errors.As(err, &apiErr) || apiErr.Status != 502 || err.Error() != "Bad Gateway: upstream down" || exitCode(err) != exitFailure {
		t.Errorf("502: %v", err)
	}
}

func testDiscovery(t *testing.T, e *apiEnv) {
	// The token of a local `cuttle up`, from its data directory.
	c, stdout, stderr := e.cli("", map[string]string{"CUTTLE_DATA": e.dataDir})
	if err := c.dispatch(t.Context(), "device", []string{"ls", "-o", "id"}); err != nil || strings.Count(stdout.String(), "\n") != 3 {
		t.Errorf("token from CUTTLE_DATA: %v %s", err, stderr)
	}
	c, stdout, stderr = e.cli("", nil)
	if err := c.dispatch(t.Context(), "device", []string{"ls", "-o", "id", "--data", e.dataDir}); err != nil || strings.Count(stdout.String(), "\n") != 3 {
		t.Errorf("token from --data: %v %s", err, stderr)
	}
	// The server as `cuttle up` prints it, and without a scheme.
	for _, server := range []string{e.srv.URL + "/api/v1", strings.TrimPrefix(e.srv.URL, "http://")} {
		c, _, stderr = e.cli(e.tokens[auth.RoleViewer], map[string]string{"CUTTLE_SERVER": "http://wrong.invalid"})
		if err := c.dispatch(t.Context(), "device", []string{"ls", "--server", server}); err != nil {
			t.Errorf("--server %s: %v %s", server, err, stderr)
		}
	}
}

func TestTokenDiscovery(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cuttle-data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cuttle-data", "admin.token"), []byte("cut_local\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tc := range []struct {
		flags     connFlags
		env       map[string]string
		base, tok string
	}{
		{base: defaultServer, tok: "cut_local"}, // cuttle up's defaults
		{flags: connFlags{server: "localhost:9000"}, base: "http://localhost:9000", tok: "cut_local"},
		{env: map[string]string{"CUTTLE_SERVER": "https://cuttle.example/api/v1/", "CUTTLE_TOKEN": "cut_env"}, base: "https://cuttle.example", tok: "cut_env"},
		{flags: connFlags{token: "cut_flag"}, env: map[string]string{"CUTTLE_TOKEN": "cut_env"}, base: defaultServer, tok: "cut_flag"},
		// A remote server never gets the local admin token, unless the
		// data directory is named.
		{flags: connFlags{server: "http://cuttle.example:8080"}},
		{flags: connFlags{server: "http://cuttle.example:8080", data: "cuttle-data"}, base: "http://cuttle.example:8080", tok: "cut_local"},
	} {
		c := &apiCLI{getenv: func(k string) string { return tc.env[k] }}
		api, err := c.client(&tc.flags)
		switch {
		case tc.tok == "":
			var noTok *noTokenError
			if !errors.As(err, &noTok) {
				t.Errorf("%+v: %v, want no token", tc.flags, err)
			}
		case err != nil || api.base != tc.base || api.token != tc.tok:
			t.Errorf("%+v %v: %v %+v, want %s with %s", tc.flags, tc.env, err, api, tc.base, tc.tok)
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "http://x/?a=b"} {
		c := &apiCLI{getenv: func(string) string { return "" }}
		if _, err := c.client(&connFlags{server: bad, token: "t"}); !errors.Is(err, errUsage) {
			t.Errorf("server %q: %v, want a usage error", bad, err)
		}
	}
}

func TestJSONToYAML(t *testing.T) {
	in := `{"z":"true","a":1,"m":{"k":"x: y","n":null},"e":{},"l":[],"s":["1.0",2.5,false],"u":"\u00e9\n2"}`
	y, err := jsonToYAML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(y), "z: \"true\"\na: 1\nm:\n  k: 'x: y'\n") {
		t.Errorf("yaml:\n%s", y)
	}
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(y, &fromYAML); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(fromYAML)
	_ = json.Unmarshal(b, &fromYAML)
	_ = json.Unmarshal([]byte(in), &fromJSON)
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Errorf("round trip: %v, want %v", fromYAML, fromJSON)
	}
}

func TestComparePaths(t *testing.T) {
	paths := []string{"Device.WiFi.SSID.10.SSID", "Device.DeviceInfo.", "Device.WiFi.SSID.2.SSID", "Device.WiFi.SSID.2.", "Device.WiFi.Radio.1.Channel"}
	slices.SortFunc(paths, comparePaths)
	want := []string{"Device.DeviceInfo.", "Device.WiFi.Radio.1.Channel", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.2.SSID", "Device.WiFi.SSID.10.SSID"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("sorted %q", paths)
	}
}

func TestGroupSet(t *testing.T) {
	objs, err := groupSet([]string{"Device.WiFi.SSID.1.SSID=a=b", "Device.X.Y=", "Device.WiFi.SSID.1.Enable=true",
		`Device.WiFi.SSID.[Alias=="x.y"].SSID=z`}, true)
	want := []setObject{
		{Path: "Device.WiFi.SSID.1.", Params: map[string]string{"SSID": "a=b", "Enable": "true"}, Required: []string{"Enable", "SSID"}},
		{Path: "Device.X.", Params: map[string]string{"Y": ""}, Required: []string{"Y"}},
		{Path: `Device.WiFi.SSID.[Alias=="x.y"].`, Params: map[string]string{"SSID": "z"}, Required: []string{"SSID"}},
	}
	if err != nil || !reflect.DeepEqual(objs, want) {
		t.Errorf("groupSet: %v\n%+v", err, objs)
	}
	for _, bad := range []string{"Device.X.Y", "Device.X.=1", "=1", "Device=1", "Device.X.Y=1 Device.X.Y=2", "Device.Reboot()=1"} {
		if _, err := groupSet(strings.Split(bad, " "), false); err == nil {
			t.Errorf("groupSet(%q) accepted", bad)
		}
	}
}

func FuzzGroupSet(f *testing.F) {
	f.Add("Device.WiFi.SSID.1.SSID=x")
	f.Add(`Device.A.[B=="c"].D=e`)
	f.Fuzz(func(t *testing.T, s string) {
		objs, err := groupSet([]string{s}, false)
		if err != nil {
			return
		}
		if len(objs) != 1 || !strings.HasSuffix(objs[0].Path, ".") || len(objs[0].Params) != 1 {
			t.Fatalf("%q: %+v", s, objs)
		}
		for name, v := range objs[0].Params {
			if objs[0].Path+name+"="+v != s {
				t.Fatalf("%q split into %q %q %q", s, objs[0].Path, name, v)
			}
		}
	})
}

func TestCompletion(t *testing.T) {
	c := &apiCLI{getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		prev []string
		cur  string
		want []string // all of them, in any order, among the candidates
		not  []string
	}{
		{nil, "", []string{"up", "device", "job", "events", "token", "completion", "creds", "help"}, nil},
		{[]string{"device"}, "", []string{"ls", "show", "get", "set", "add", "delete", "operate", "instances", "supported-dm", "label", "rm"}, nil},
		{[]string{"device", "get"}, "--", []string{"--max-depth", "--server", "--token", "--data", "-o"}, []string{"--all"}},
		{[]string{"device", "ls", "-o"}, "", []string{"table", "json", "yaml", "id"}, nil},
		{[]string{"device", "ls"}, "--status=", []string{"--status=online", "--status=offline"}, nil},
		{[]string{"job", "create", "--op"}, "", jobOperations, nil},
		{[]string{"job", "show", "x", "--status"}, "", []string{"usp_error"}, []string{"online"}},
		{[]string{"token", "create", "--role"}, "", tokenRoles, nil},
		{[]string{"events", "--type"}, "", []string{"value_change", "boot"}, nil},
		{[]string{"events"}, "-", []string{"--follow", "--since"}, nil},
		{[]string{"creds"}, "", []string{"add", "revoke-cert"}, nil},
		{[]string{"completion"}, "", []string{"bash", "zsh"}, nil},
		{[]string{"device", "get", "--server", "http://127.0.0.1:1", "os::1"}, "", nil, []string{"--server"}},
	} {
		got := c.candidates(t.Context(), tc.prev, tc.cur)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%q %q: %q lacks %q", tc.prev, tc.cur, got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("%q %q: %q has %q", tc.prev, tc.cur, got, w)
			}
		}
	}

	var out bytes.Buffer
	c.stdout = &out
	if err := c.dispatch(t.Context(), "completion", []string{"__complete", "2", "cuttle", "device", "s"}); err != nil || out.String() != "show\nset\nsupported-dm\n" {
		t.Errorf("__complete: %v %q", err, out.String())
	}
	for _, shell := range []string{"bash", "zsh"} {
		out.Reset()
		if err := c.dispatch(t.Context(), "completion", []string{shell}); err != nil || !strings.Contains(out.String(), "completion __complete") {
			t.Errorf("completion %s: %v\n%s", shell, err, out.String())
		}
	}
}

// TestBashCompletionScript runs the bash script with a stand-in for the
// binary, to check the words it passes and how it trims candidates at
// COMP_WORDBREAKS.
func TestBashCompletionScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := bashCompletion + `
cuttle() { local IFS=' '; printf '%s\n' "$*" > "$ARGS_FILE"; printf '%s\n' os::012345-0001 os::012345-0002; }
COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
COMP_LINE='cuttle device show os::01'
COMP_POINT=${#COMP_LINE}
_cuttle_complete
printf '%s\n' "${COMPREPLY[@]}"
`
	args := filepath.Join(t.TempDir(), "args")
	cmd := exec.CommandContext(t.Context(), bash, "--norc", "-c", script)
	cmd.Env = append(os.Environ(), "ARGS_FILE="+args)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if string(out) != "012345-0001\n012345-0002\n" {
		t.Errorf("COMPREPLY %q", out)
	}
	if b, _ := os.ReadFile(args); string(b) != "completion __complete 3 cuttle device show os::01\n" {
		t.Errorf("the binary was asked %q", b)
	}
}

func testRemoteCompletion(t *testing.T, e *apiEnv) {
	c, _, _ := e.cli(e.tokens[auth.RoleAdmin], nil)
	ctx := context.Background()
	if got := c.candidates(ctx, []string{"device", "show"}, "os::"); !reflect.DeepEqual(got, e.devices) {
		t.Errorf("device IDs: %q, want %q", got, e.devices)
	}
	if got := c.candidates(ctx, []string{"events", "--device"}, ""); !reflect.DeepEqual(got, e.devices) {
		t.Errorf("device IDs for --device: %q", got)
	}
	if got := c.candidates(ctx, []string{"device", "show", e.devices[0]}, ""); got != nil {
		t.Errorf("second argument: %q", got)
	}
	if got := c.candidates(ctx, []string{"job", "cancel"}, ""); len(got) == 0 {
		t.Error("no job IDs")
	}
	if got := c.candidates(ctx, []string{"token", "revoke"}, ""); len(got) < 3 {
		t.Errorf("token IDs: %q", got)
	}
}
