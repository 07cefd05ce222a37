// Package profile describes the kinds of device the simulator can pretend to
// be: a profile gives the TR-181 identity (manufacturer, OUI, model, product
// class, hardware and firmware versions), the shape of the data model (Wi-Fi
// radios and SSIDs) and the ranges and rates from which each simulated
// device draws its own values (number of hosts and Wi-Fi clients, traffic).
//
// Three profiles are built in (see Names); more are loaded from YAML or JSON
// files with Load. Device derives one device's values from a profile, its
// index and a seed, always the same for the same inputs, so a fleet can be
// recreated exactly.
package profile

import (
	"errors"
	"fmt"
	"strings"
)

// Profile is a device model to simulate. A Profile is shared by every device
// built from it and must not be changed once in use.
type Profile struct {
	// Name identifies the profile, e.g. "home-gateway".
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`

	Manufacturer string `json:"manufacturer" yaml:"manufacturer"`
	// OUI is the manufacturer's IEEE OUI: six upper-case hex digits. It is
	// also the first half of every device MAC and of "os::" endpoint IDs.
	OUI             string `json:"oui" yaml:"oui"`
	ModelName       string `json:"model_name" yaml:"model_name"`
	ProductClass    string `json:"product_class" yaml:"product_class"`
	HardwareVersion string `json:"hardware_version" yaml:"hardware_version"`
	// SerialPrefix starts every serial number; the device index follows.
	SerialPrefix string `json:"serial_prefix" yaml:"serial_prefix"`
	// Firmware lists the firmware versions in the field, oldest first. Each
	// device runs one of them, most often the newest, and keeps the one
	// before it in its second image slot.
	Firmware []string `json:"firmware" yaml:"firmware"`

	// Radios lists the Wi-Fi radios; may be empty for a wired device.
	Radios []Radio `json:"radios,omitempty" yaml:"radios,omitempty"`
	// SSIDsPerRadio is the number of SSIDs (and access points) on each
	// radio (default 1).
	SSIDsPerRadio int `json:"ssids_per_radio,omitempty" yaml:"ssids_per_radio,omitempty"`
	// SSIDPrefix starts the network names (default: the model name).
	SSIDPrefix string `json:"ssid_prefix,omitempty" yaml:"ssid_prefix,omitempty"`

	// Hosts is the range of LAN hosts a device has.
	Hosts Range `json:"hosts" yaml:"hosts"`
	// WiFiClients is the range of those hosts that use Wi-Fi.
	WiFiClients Range `json:"wifi_clients" yaml:"wifi_clients"`
	// Traffic is how fast each SSID's counters grow.
	Traffic Traffic `json:"traffic,omitempty" yaml:"traffic,omitempty"`
	// ChurnSeconds is the mean time between a host joining or leaving
	// (default 600; negative: hosts never change).
	ChurnSeconds int `json:"churn_seconds,omitempty" yaml:"churn_seconds,omitempty"`
	// DownloadSeconds is how long a firmware Download() takes (default 30).
	DownloadSeconds int `json:"download_seconds,omitempty" yaml:"download_seconds,omitempty"`
	// TimeZone is Device.Time.LocalTimeZone, a POSIX TZ string (default "UTC0").
	TimeZone string `json:"time_zone,omitempty" yaml:"time_zone,omitempty"`
}

// Radio is one Wi-Fi radio.
type Radio struct {
	// Band is "2.4GHz", "5GHz" or "6GHz".
	Band string `json:"band" yaml:"band"`
	// Standards is the comma-separated list of supported standards, e.g.
	// "b,g,n,ax".
	Standards string `json:"standards" yaml:"standards"`
	Channel   int    `json:"channel" yaml:"channel"`
	// Bandwidth is e.g. "20MHz" or "80MHz" (default "Auto").
	Bandwidth string `json:"bandwidth,omitempty" yaml:"bandwidth,omitempty"`
}

// Range is an inclusive range of integers.
type Range struct {
	Min int `json:"min" yaml:"min"`
	Max int `json:"max" yaml:"max"`
}

// Traffic sets counter growth per SSID.
type Traffic struct {
	// BytesPerSecond is the range from which each device draws its average
	// throughput per SSID and direction (default 2,000–200,000).
	BytesPerSecond Range `json:"bytes_per_second" yaml:"bytes_per_second"`
	// ErrorsPerMillion is the share of packets that fail, per million.
	ErrorsPerMillion int `json:"errors_per_million,omitempty" yaml:"errors_per_million,omitempty"`
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid profile")

// fieldError names the field (as spelled in profile files) that is wrong.
func (p *Profile) fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s: %s", ErrInvalid, p.Name, field, fmt.Sprintf(format, args...))
}

// bands are the radio bands TR-181 defines.
var bands = map[string]bool{"2.4GHz": true, "5GHz": true, "6GHz": true}

// standards are the Wi-Fi standards TR-181 defines.
var standards = map[string]bool{"a": true, "b": true, "g": true, "n": true, "ac": true, "ax": true, "be": true}

var bandwidths = map[string]bool{"20MHz": true, "40MHz": true, "80MHz": true, "160MHz": true, "320MHz": true, "Auto": true}

// Validate fills in defaults and checks every field, returning an error
// that names the first wrong field.
func (p *Profile) Validate() error {
	p.setDefaults()
	if p.Name == "" {
		return p.fieldError("name", "required")
	}
	for _, f := range []struct{ name, v string }{
		{"manufacturer", p.Manufacturer}, {"model_name", p.ModelName}, {"product_class", p.ProductClass},
		{"hardware_version", p.HardwareVersion}, {"serial_prefix", p.SerialPrefix},
	} {
		if f.v == "" {
			return p.fieldError(f.name, "required")
		}
		if len(f.v) > 64 {
			return p.fieldError(f.name, "longer than 64 bytes")
		}
	}
	if !isOUI(p.OUI) {
		return p.fieldError("oui", "%q is not six upper-case hexadecimal digits", p.OUI)
	}
	// The endpoint ID is os::<OUI>-<serial>, whose instance part may only hold
	// A-Z a-z 0-9 - . _ and at most 50 characters (R-ARC.5/6).
	if !isIDChars(p.SerialPrefix) {
		return p.fieldError("serial_prefix", "%q may only contain letters, digits, '-', '.' and '_'", p.SerialPrefix)
	}
	if len(p.OUI)+1+len(p.SerialPrefix)+9 > 50 {
		return p.fieldError("serial_prefix", "too long for an endpoint ID")
	}
	if len(p.Firmware) == 0 {
		return p.fieldError("firmware", "at least one version is required")
	}
	for i, v := range p.Firmware {
		if v == "" || len(v) > 64 || strings.ContainsAny(v, ", ") {
			return p.fieldError(fmt.Sprintf("firmware[%d]", i), "%q is not a version (1–64 bytes, no spaces or commas)", v)
		}
	}
	for i, r := range p.Radios {
		f := fmt.Sprintf("radios[%d]", i)
		if !bands[r.Band] {
			return p.fieldError(f+".band", "%q is not 2.4GHz, 5GHz or 6GHz", r.Band)
		}
		if r.Standards == "" {
			return p.fieldError(f+".standards", "required")
		}
		for _, s := range strings.Split(r.Standards, ",") {
			if !standards[strings.TrimSpace(s)] {
				return p.fieldError(f+".standards", "%q is not a Wi-Fi standard (a, b, g, n, ac, ax, be)", s)
			}
		}
		if r.Channel < 1 || r.Channel > 233 {
			return p.fieldError(f+".channel", "%d is outside 1–233", r.Channel)
		}
		if !bandwidths[r.Bandwidth] {
			return p.fieldError(f+".bandwidth", "%q is not a channel bandwidth", r.Bandwidth)
		}
	}
	if p.SSIDsPerRadio < 1 || p.SSIDsPerRadio > 8 {
		return p.fieldError("ssids_per_radio", "%d is outside 1–8", p.SSIDsPerRadio)
	}
	if len(p.SSIDPrefix) > 24 {
		return p.fieldError("ssid_prefix", "longer than 24 bytes")
	}
	if err := p.checkRange("hosts", p.Hosts, 0, 250); err != nil {
		return err
	}
	if err := p.checkRange("wifi_clients", p.WiFiClients, 0, 250); err != nil {
		return err
	}
	if len(p.Radios) == 0 && p.WiFiClients.Max > 0 {
		return p.fieldError("wifi_clients", "a device without radios cannot have Wi-Fi clients")
	}
	if p.WiFiClients.Max > p.Hosts.Max {
		return p.fieldError("wifi_clients", "max %d is more than hosts.max %d: Wi-Fi clients are hosts", p.WiFiClients.Max, p.Hosts.Max)
	}
	if err := p.checkRange("traffic.bytes_per_second", p.Traffic.BytesPerSecond, 0, 1<<40); err != nil {
		return err
	}
	if p.Traffic.ErrorsPerMillion < 0 || p.Traffic.ErrorsPerMillion > 1_000_000 {
		return p.fieldError("traffic.errors_per_million", "%d is outside 0–1000000", p.Traffic.ErrorsPerMillion)
	}
	if p.DownloadSeconds < 1 || p.DownloadSeconds > 86400 {
		return p.fieldError("download_seconds", "%d is outside 1–86400", p.DownloadSeconds)
	}
	if len(p.TimeZone) > 256 {
		return p.fieldError("time_zone", "longer than 256 bytes")
	}
	return nil
}

// setDefaults applies the documented defaults to zero fields.
func (p *Profile) setDefaults() {
	if p.SSIDsPerRadio == 0 {
		p.SSIDsPerRadio = 1
	}
	if p.SSIDPrefix == "" {
		p.SSIDPrefix = p.ModelName
		if len(p.SSIDPrefix) > 24 {
			p.SSIDPrefix = p.SSIDPrefix[:24]
		}
	}
	for i := range p.Radios {
		if p.Radios[i].Bandwidth == "" {
			p.Radios[i].Bandwidth = "Auto"
		}
	}
	if p.Traffic.BytesPerSecond == (Range{}) {
		p.Traffic.BytesPerSecond = Range{Min: 2_000, Max: 200_000}
	}
	if p.ChurnSeconds == 0 {
		p.ChurnSeconds = 600
	}
	if p.DownloadSeconds == 0 {
		p.DownloadSeconds = 30
	}
	if p.TimeZone == "" {
		p.TimeZone = "UTC0"
	}
}

func (p *Profile) checkRange(field string, r Range, lo, hi int) error {
	if r.Min < lo || r.Max > hi || r.Min > r.Max {
		return p.fieldError(field, "[%d, %d] must satisfy %d ≤ min ≤ max ≤ %d", r.Min, r.Max, lo, hi)
	}
	return nil
}

func isOUI(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < 6; i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
