package agent

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"cuttle/usp/usperr"
)

func resolvedPaths(t *testing.T, h *harness, maxDepth uint32, p string) []string {
	t.Helper()
	resp := h.get(maxDepth, p)
	if len(resp.Results) != 1 {
		t.Fatalf("Get %s: %d results", p, len(resp.Results))
	}
	if err := resp.Results[0].Err; err != nil {
		t.Fatalf("Get %s: %v", p, err)
	}
	var out []string
	for _, r := range resp.Results[0].Resolved {
		out = append(out, r.Path)
	}
	return out
}

func TestGetErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path string
		want usperr.Code
	}{
		{"Device.DeviceInfo.Manufacturer", 0},
		{"Device.DeviceInfo.", 0},
		{"Device.WiFi.SSID.*.Status", 0},
		{`Device.IP.Interface.[Type=="Tunnel"].`, 0},           // a search matching nothing (R-GET.1a)
		{`Device.WiFi.SSID.[Enable==true&&SSID=="x"].SSID`, 0}, // ditto, for a parameter
		{"Device.Foo.", usperr.InvalidPath},                    // not in the supported DM (R-GET.0)
		{"Device.DeviceInfo.Foo", usperr.InvalidPath},
		{"Device.WiFi.SSID.*.Foo", usperr.InvalidPath}, // a search path outside the supported DM
		{"Device.WiFi.SSID.[Foo==1].", usperr.InvalidPath},
		{"Device.WiFi.SSID.99.", usperr.InvalidPath}, // not instantiated, not a search (R-GET.0)
		{"Device.WiFi.SSID.99.SSID", usperr.InvalidPath},
		{`Device.IP.Interface.[Name=="eth9"].`, usperr.InvalidPath}, // unique-key addressing is not a search
		{"Device.WiFi.SSID.Enable", usperr.InvalidPath},             // a table needs an instance
		{"Device.DeviceInfo.1.", usperr.InvalidPath},                // not a table
		{"Device..WiFi", usperr.InvalidPath},                        // syntax
		{"Device.WiFi.SSID.[Enable==true", usperr.InvalidPath},
		{"Device.Reboot()", usperr.InvalidPath}, // Get reads objects and parameters only
		{"Device.Boot!", usperr.InvalidPath},
		{"Device.WiFi.AccessPoint.1.SSIDReference+.SSID", usperr.InvalidPath}, // reference following outside expressions
		{"Other.Thing", usperr.InvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := h.get(0, tt.path)
			if len(resp.Results) != 1 || resp.Results[0].RequestedPath != tt.path {
				t.Fatalf("results = %+v", resp.Results)
			}
			if got := codeOf(resp.Results[0].Err); got != tt.want {
				t.Fatalf("code = %v, want %v (%v)", got, tt.want, resp.Results[0].Err)
			}
			if tt.want != 0 && len(resp.Results[0].Resolved) > 0 {
				t.Fatalf("a failed path has resolved results")
			}
		})
	}
}

func TestGetParameterPath(t *testing.T) {
	h := newHarness(t)
	resp := h.get(0, "Device.LocalAgent.EndpointID", "Device.DeviceInfo.SoftwareVersion")
	if len(resp.Results) != 2 {
		t.Fatalf("%d results", len(resp.Results))
	}
	r := resp.Results[0].Resolved
	// R-GET.2/3: the parent object, with only that parameter, relative.
	if len(r) != 1 || r[0].Path != "Device.LocalAgent." || len(r[0].Params) != 1 || r[0].Params["EndpointID"] != h.a.EndpointID() {
		t.Errorf("EndpointID: %+v", r)
	}
	if v := resp.Results[1].Resolved[0].Params["SoftwareVersion"]; v != h.a.dev.Firmware {
		t.Errorf("SoftwareVersion = %q, want %q", v, h.a.dev.Firmware)
	}
}

func TestGetMaxDepth(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path     string
		maxDepth uint32
		want     []string
	}{
		{"Device.DeviceInfo.", 1, []string{"Device.DeviceInfo."}},
		{"Device.DeviceInfo.", 2, []string{"Device.DeviceInfo.", "Device.DeviceInfo.FirmwareImage.1.", "Device.DeviceInfo.FirmwareImage.2."}},
		{"Device.DeviceInfo.", 0, []string{"Device.DeviceInfo.", "Device.DeviceInfo.FirmwareImage.1.", "Device.DeviceInfo.FirmwareImage.2."}},
		// A table's rows are at the table's level.
		{"Device.WiFi.SSID.", 1, []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.3.", "Device.WiFi.SSID.4."}},
		{"Device.WiFi.SSID.1.", 2, []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.1.Stats."}},
		{"Device.IP.", 2, []string{"Device.IP.", "Device.IP.Interface.1.", "Device.IP.Interface.2.", "Device.IP.Interface.3."}},
		{"Device.IP.", 3, []string{"Device.IP.", "Device.IP.Interface.1.", "Device.IP.Interface.1.IPv4Address.1.",
			"Device.IP.Interface.2.", "Device.IP.Interface.2.IPv4Address.1.", "Device.IP.Interface.3.", "Device.IP.Interface.3.IPv4Address.1."}},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+string(rune('0'+tt.maxDepth)), func(t *testing.T) {
			got := resolvedPaths(t, h, tt.maxDepth, tt.path)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("resolved = %v\nwant %v", got, tt.want)
			}
		})
	}
	// Unlimited depth reaches everything, each sub-object in its own result
	// (USP 1.2) with relative parameter names.
	resp := h.get(0, "Device.WiFi.")
	found := false
	for _, r := range resp.Results[0].Resolved {
		if r.Path == "Device.WiFi.SSID.1.Stats." {
			found = true
			if _, ok := r.Params["BytesSent"]; !ok || len(r.Params) != 8 {
				t.Errorf("Stats params = %v", r.Params)
			}
		}
		for k := range r.Params {
			if strings.Contains(k, ".") {
				t.Errorf("%s: param key %q is not relative to the object", r.Path, k)
			}
		}
	}
	if !found {
		t.Error("Device.WiFi. with max_depth 0 lacks SSID.1.Stats.")
	}
}

func TestGetSearch(t *testing.T) {
	h := newHarness(t)
	// What the searches should find, worked out by hand from the tree.
	var activeHosts, strongClients []string
	for _, host := range h.a.root.child("Hosts").rows(dm().host) {
		if host.get("Active") == "true" && host.get("IPAddress") != "" {
			activeHosts = append(activeHosts, host.path())
		}
	}
	for _, ap := range h.a.root.child("WiFi").rows(dm().ap) {
		for _, ad := range ap.rows(dm().assoc) {
			if v, _ := strconv.Atoi(ad.get("SignalStrength")); v > -60 {
				strongClients = append(strongClients, ad.path())
			}
		}
	}
	sort.Strings(strongClients)
	tests := []struct {
		path string
		want []string
	}{
		{"Device.WiFi.SSID.[Enable==true].SSID", []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.3."}},
		{"Device.WiFi.SSID.[Enable==false].", []string{"Device.WiFi.SSID.2.", "Device.WiFi.SSID.2.Stats.", "Device.WiFi.SSID.4.", "Device.WiFi.SSID.4.Stats."}},
		{`Device.Hosts.Host.[Active==true&&IPAddress!=""].HostName`, activeHosts},
		{`Device.IP.Interface.[Name=="eth0"].`, []string{"Device.IP.Interface.1.", "Device.IP.Interface.1.IPv4Address.1."}},
		{`Device.IP.Interface.[Name=="br-lan"].IPv4Address.*.IPAddress`, []string{"Device.IP.Interface.2.IPv4Address.1."}},
		{`Device.IP.Interface.*.IPv4Address.[AddressingType=="DHCP"].SubnetMask`, []string{"Device.IP.Interface.1.IPv4Address.1."}},
		{"Device.WiFi.SSID.[Stats.BytesSent>=0].Name", []string{"Device.WiFi.SSID.1.", "Device.WiFi.SSID.2.", "Device.WiFi.SSID.3.", "Device.WiFi.SSID.4."}},
		{`Device.WiFi.AccessPoint.[SSIDReference+.SSID=="Cuttle-0001"].SSIDReference`, []string{"Device.WiFi.AccessPoint.1."}},
		{`Device.WiFi.Radio.[SupportedStandards~="ax"&&Channel>11].Name`, []string{"Device.WiFi.Radio.2."}},
		{"Device.WiFi.AccessPoint.*.AssociatedDevice.[SignalStrength>-60].MACAddress", strongClients},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := resolvedPaths(t, h, 0, tt.path)
			sort.Strings(got)
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("resolved = %v\nwant %v", got, want)
			}
		})
	}
	// The SSID search returns SSIDs' values.
	resp := h.get(0, "Device.WiFi.SSID.[Enable==true].SSID")
	if v := resp.Results[0].Resolved[0].Params["SSID"]; v != "Cuttle-0001" {
		t.Errorf("SSID.1.SSID = %q", v)
	}
}

func TestGetSecretsReadEmpty(t *testing.T) {
	h := newHarness(t)
	if v := h.value("Device.WiFi.AccessPoint.1.Security.KeyPassphrase"); v != "" {
		t.Errorf("KeyPassphrase reads %q, want it hidden", v)
	}
}
