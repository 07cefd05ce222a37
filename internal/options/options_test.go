package options

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type opts struct {
	addr    string
	n       int
	size    uint64
	on      bool
	timeout time.Duration
}

func newSet(o *opts) *Set {
	s := New("test", io.Discard)
	s.String(&o.addr, "mqtt-addr", ":1883", "address")
	s.Int(&o.n, "max-connections", 10, "cap")
	s.Uint(&o.size, "max-packet-size", 256<<10, "size")
	s.Bool(&o.on, "enable-ws", false, "ws")
	s.Duration(&o.timeout, "connect-timeout", 10*time.Second, "timeout")
	return s
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPrecedence(t *testing.T) {
	file := writeConfig(t, "mqtt-addr: 127.0.0.1:1\nmax-connections: 3\nmax-packet-size: 1KiB\nenable-ws: true\nconnect-timeout: 2s\n")
	env := map[string]string{"CUTTLE_MAX_CONNECTIONS": "5", "CUTTLE_CONFIG": file}
	var o opts
	if err := newSet(&o).Parse([]string{"--connect-timeout=7s"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	want := opts{addr: "127.0.0.1:1", n: 5, size: 1024, on: true, timeout: 7 * time.Second}
	if o != want {
		t.Errorf("got %+v, want %+v", o, want)
	}
	var d opts
	if err := newSet(&d).Parse(nil, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if (d != opts{addr: ":1883", n: 10, size: 256 << 10, timeout: 10 * time.Second}) {
		t.Errorf("defaults %+v", d)
	}
}

func TestErrorsNameTheOption(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"bad flag", []string{"--max-connections=many"}, nil, "", "max-connections"},
		{"bad env", nil, map[string]string{"CUTTLE_CONNECT_TIMEOUT": "soon"}, "", "CUTTLE_CONNECT_TIMEOUT"},
		{"bad file value", nil, nil, "max-packet-size: huge\n", "max-packet-size"},
		{"unknown file key", nil, nil, "max-conections: 3\n", `unknown option "max-conections"`},
		{"nested file value", nil, nil, "mqtt-addr:\n  host: x\n", "mqtt-addr"},
		{"bad yaml", nil, nil, "a: [\n", "config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var o opts
			args := c.args
			if c.file != "" {
				args = append(args, "--config", writeConfig(t, c.file))
			}
			err := newSet(&o).Parse(args, func(k string) string { return c.env[k] })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}
