package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cuttle/internal/testutil"

	"github.com/eclipse/paho.golang/paho"
)

// TestUp runs `cuttle up` on free ports, provisions a device with `cuttle
// creds` (which finds the embedded NATS through the data directory), connects
// it, and stops everything within 5 s.
func TestUp(t *testing.T) {
	data := t.TempDir()
	up := startCommand(t, "cuttle up", func(ctx context.Context, stdout, _ io.Writer) error {
		return runUp(ctx, []string{"--data", data, "--nats-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0",
			"--ws-addr", "127.0.0.1:0", "--broker-http-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--demo", "3", "--log-level", "warn"}, stdout)
	})
	up.waitOutput("Press Ctrl-C", 15*time.Second)
	out := &up.out
	ctx := t.Context()
	m := regexp.MustCompile(`MQTT tcp:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no MQTT address in:\n%s", out.String())
	}
	info, err := os.Stat(filepath.Join(data, localNATSFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("NATS credentials file: %v, mode %v", err, info.Mode())
	}

	var credsOut, credsErr bytes.Buffer
	c := credsCLI{stdin: strings.NewReader(""), stdout: &credsOut, stderr: &credsErr, getenv: func(string) string { return "" }}
	local, err := readLocalNATS(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.run(ctx, []string{"add", "--data", data, "--nats", local.URL, "--role", "device", "--endpoint-id", "os::012345-UP1", "-o", "json"}); err != nil {
		t.Fatalf("creds add: %v\n%s", err, credsErr.String())
	}
	var added struct{ Secret string }
	if err := json.Unmarshal(credsOut.Bytes(), &added); err != nil || added.Secret == "" {
		t.Fatalf("creds output %q: %v", credsOut.String(), err)
	}

	// The API answers with the bootstrap admin token and lists the three
	// demo devices online.
	apiURL := regexp.MustCompile(`API:\s+(\S+)`).FindStringSubmatch(out.String())
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if apiURL == nil || err != nil {
		t.Fatalf("API line %v, token %v", apiURL, err)
	}
	// api.json tells the CLI where this instance's API is (a random port
	// here): with only the data directory, `cuttle device ls` finds it.
	info, err = os.Stat(filepath.Join(data, localAPIFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("API file: %v, mode %v", err, info.Mode())
	}
	if got, want := readLocalAPI(data)+"/api/v1", apiURL[1]; got != want {
		t.Errorf("api.json names %s, the API is at %s", got, want)
	}
	testutil.Eventually(t, 20*time.Second, "the CLI to list the demo devices through api.json", func() bool {
		var stdout, stderr bytes.Buffer
		cli := &apiCLI{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return map[string]string{"CUTTLE_DATA": data}[k] }}
		return cli.dispatch(ctx, "device", []string{"ls", "-o", "id"}) == nil && strings.Count(stdout.String(), "\n") == 3
	})

	testutil.Eventually(t, 20*time.Second, "3 demo devices online in the API", func() bool {
		req, _ := http.NewRequest("GET", apiURL[1]+"/devices?status=online", nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var page struct{ Total int }
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&page) == nil && page.Total == 3
	})

	conn, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: conn})
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	// The mirror may lag the KV write by a moment.
	var ca *paho.Connack
	for range 50 {
		ca, err = cl.Connect(cctx, &paho.Connect{Username: "os::012345-UP1", UsernameFlag: true, Password: []byte(added.Secret), PasswordFlag: true, KeepAlive: 30, CleanStart: true})
		if err == nil || ca == nil || ca.ReasonCode != 0x86 {
			break
		}
		_ = conn.Close() // the broker closes a refused connection too
		time.Sleep(20 * time.Millisecond)
		if conn, err = net.Dial("tcp", m[1]); err != nil {
			t.Fatal(err)
		}
		cl = paho.NewClient(paho.ClientConfig{Conn: conn})
	}
	if err != nil {
		t.Fatalf("device connect: %v (%+v)", err, ca)
	}
	_ = cl.Disconnect(&paho.Disconnect{})

	start := time.Now()
	if err := up.stop(); err != nil {
		t.Errorf("cuttle up returned %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown took %v, want < 5s", took)
	}
}

func TestUpRefusesPublicNATS(t *testing.T) {
	err := runUp(context.Background(), []string{"--data", t.TempDir(), "--nats-addr", "0.0.0.0:4222"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("err = %v, want a loopback error", err)
	}
}
