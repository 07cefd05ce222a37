package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltins(t *testing.T) {
	names := Names()
	if len(names) != 3 {
		t.Fatalf("Names() = %v", names)
	}
	for _, n := range names {
		p, err := Builtin(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if p.Name != n || len(p.Firmware) == 0 || p.DownloadSeconds == 0 {
			t.Errorf("%s: %+v", n, p)
		}
		// A copy: changing it does not change the next caller's.
		p.Manufacturer = "changed"
		if again, _ := Builtin(n); again.Manufacturer == "changed" {
			t.Errorf("%s: Builtin returns a shared value", n)
		}
	}
	if _, err := Builtin("nope"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown built-in: %v", err)
	}
	if p, err := Open("wifi-extender"); err != nil || p.Name != "wifi-extender" {
		t.Errorf("Open(built-in): %v", err)
	}
}

func TestLoad(t *testing.T) {
	y, err := Load("testdata/lab-router.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if y.Name != "lab-router" || y.OUI != "00256D" || len(y.Radios) != 1 || y.Radios[0].Bandwidth != "Auto" ||
		y.Hosts.Max != 4 || y.ChurnSeconds != -1 || y.SSIDPrefix != "EX-100" || y.TimeZone != "UTC0" {
		t.Errorf("yaml: %+v", y)
	}
	j, err := Open("testdata/iot.json")
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "wired-iot" || len(j.Radios) != 0 || j.SSIDsPerRadio != 1 || j.Traffic.BytesPerSecond.Max == 0 {
		t.Errorf("json: %+v", j)
	}
	for _, bad := range []string{"testdata/missing.yaml", "profile.go"} {
		if _, err := Load(bad); err == nil {
			t.Errorf("Load(%s) succeeded", bad)
		}
	}
}

// TestValidation: each mistake is reported with the field's name as it is
// spelled in profile files.
func TestValidation(t *testing.T) {
	base, err := os.ReadFile("testdata/lab-router.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, field string
	}{
		{"oui", "oui: 00256D", "oui: 00256d", "oui"},
		{"missing model", "model_name: EX-100", "model_name: ''", "model_name"},
		{"serial", "serial_prefix: LAB", "serial_prefix: 'L A'", "serial_prefix"},
		{"firmware", `firmware: ["1.0.0", "1.1.0"]`, `firmware: ["1.0.0", "bad version"]`, "firmware[1]"},
		{"no firmware", `firmware: ["1.0.0", "1.1.0"]`, `firmware: []`, "firmware"},
		{"band", "band: 2.4GHz", "band: 3GHz", "radios[0].band"},
		{"standard", "standards: b,g,n", "standards: b,g,wifi7", "radios[0].standards"},
		{"channel", "channel: 6", "channel: 0", "radios[0].channel"},
		{"hosts", "hosts: {min: 1, max: 4}", "hosts: {min: 5, max: 4}", "hosts"},
		{"clients over hosts", "wifi_clients: {min: 0, max: 2}", "wifi_clients: {min: 0, max: 9}", "wifi_clients"},
		{"download", "download_seconds: 10", "download_seconds: -3", "download_seconds"},
		{"ssids", "ssids_per_radio: 1", "ssids_per_radio: 9", "ssids_per_radio"},
		{"unknown field", "churn_seconds: -1", "churn_secs: -1", "churn_secs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(string(base), tt.from, tt.to, 1)
			if src == string(base) {
				t.Fatalf("%q not in the base profile", tt.from)
			}
			_, err := Parse([]byte(src), "yaml")
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want ErrInvalid naming %q", err, tt.field)
			}
		})
	}
	if _, err := Parse([]byte(`{"name": "x", "oui": 5}`), "json"); !errors.Is(err, ErrInvalid) {
		t.Errorf("json type error: %v", err)
	}
	if _, err := Parse([]byte(`{"name": "x"} {}`), "json"); !errors.Is(err, ErrInvalid) {
		t.Errorf("trailing json: %v", err)
	}
	if _, err := Parse(nil, "yaml"); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty yaml: %v", err)
	}
	if _, err := Parse(nil, "toml"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestDevice(t *testing.T) {
	p, _ := Builtin("home-gateway")
	d1, d1again, d2 := p.Device(1, 7), p.Device(1, 7), p.Device(2, 7)
	if d1 != d1again {
		t.Fatal("the same inputs gave different devices")
	}
	if d1.SerialNumber != "HGW000001" || p.EndpointID(1) != "os::00D09E-HGW000001" || d2.SerialNumber == d1.SerialNumber {
		t.Errorf("serials %s %s, endpoint %s", d1.SerialNumber, d2.SerialNumber, p.EndpointID(1))
	}
	if d1.MAC(0) == d2.MAC(0) || d1.MAC(0) == d1.MAC(1) || !strings.HasPrefix(d1.MAC(0), "00:d0:9e:") {
		t.Errorf("MACs %s %s %s", d1.MAC(0), d1.MAC(1), d2.MAC(0))
	}
	// Over a fleet the values spread over the profile's ranges, and MACs
	// never collide.
	macs := map[string]bool{}
	versions := map[string]int{}
	hosts := map[int]bool{}
	for i := 0; i < 2000; i++ {
		d := p.Device(i, 7)
		for n := 0; n < 16; n++ {
			if macs[d.MAC(n)] {
				t.Fatalf("device %d MAC %d %s is taken", i, n, d.MAC(n))
			}
			macs[d.MAC(n)] = true
		}
		versions[d.Firmware]++
		hosts[d.Hosts] = true
		if d.Hosts < p.Hosts.Min || d.Hosts > p.Hosts.Max || d.WiFiClients > d.Hosts ||
			d.BytesPerSecond < p.Traffic.BytesPerSecond.Min || d.BytesPerSecond > p.Traffic.BytesPerSecond.Max {
			t.Fatalf("device %d out of range: %+v", i, d)
		}
		if d.Firmware == p.Firmware[0] && d.PreviousFirmware != "" {
			t.Fatalf("device %d: oldest firmware with a previous one", i)
		}
	}
	if len(versions) != len(p.Firmware) || versions[p.Firmware[len(p.Firmware)-1]] < 1000 {
		t.Errorf("firmware spread %v: most devices should run the newest", versions)
	}
	if len(hosts) < 10 {
		t.Errorf("only %d different host counts", len(hosts))
	}
	// Another seed, another fleet.
	if p.Device(1, 8) == d1 {
		t.Error("the seed changes nothing")
	}
}

func TestWriteAndLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(file, []byte("name: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "manufacturer") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []string{"testdata/lab-router.yaml", "testdata/iot.json"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{"yaml", "json"} {
			p, err := Parse(data, format)
			if err != nil {
				continue
			}
			// A valid profile yields valid devices.
			d := p.Device(0, 1)
			if d.Hosts < p.Hosts.Min || d.Hosts > p.Hosts.Max || d.Firmware == "" {
				t.Fatalf("%+v from %+v", d, p)
			}
		}
	})
}
