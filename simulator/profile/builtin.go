package profile

import (
	"fmt"
	"sort"
)

// builtins returns fresh copies of the built-in profiles, so that a caller
// cannot change them for everyone.
func builtins() map[string]*Profile {
	return map[string]*Profile{
		"home-gateway": {
			Name:            "home-gateway",
			Description:     "A dual-band home gateway with a DSL/fibre WAN and a busy LAN.",
			Manufacturer:    "Cuttle Labs",
			OUI:             "00D09E",
			ModelName:       "CL-HG4000",
			ProductClass:    "HomeGateway",
			HardwareVersion: "HG4000-rev.B",
			SerialPrefix:    "HGW",
			Firmware:        []string{"4.1.2", "4.2.0", "4.2.3"},
			Radios: []Radio{
				{Band: "2.4GHz", Standards: "b,g,n,ax", Channel: 6, Bandwidth: "20MHz"},
				{Band: "5GHz", Standards: "a,n,ac,ax", Channel: 36, Bandwidth: "80MHz"},
			},
			SSIDsPerRadio:   2,
			SSIDPrefix:      "Cuttle",
			Hosts:           Range{Min: 4, Max: 24},
			WiFiClients:     Range{Min: 2, Max: 16},
			Traffic:         Traffic{BytesPerSecond: Range{Min: 10_000, Max: 2_000_000}, ErrorsPerMillion: 50},
			ChurnSeconds:    300,
			DownloadSeconds: 45,
			TimeZone:        "CET-1CEST,M3.5.0,M10.5.0/3",
		},
		"wifi-extender": {
			Name:            "wifi-extender",
			Description:     "A mesh Wi-Fi extender: few hosts, all wireless.",
			Manufacturer:    "Cuttle Labs",
			OUI:             "00D09E",
			ModelName:       "CL-MX200",
			ProductClass:    "WiFiExtender",
			HardwareVersion: "MX200-rev.A",
			SerialPrefix:    "EXT",
			Firmware:        []string{"2.0.7", "2.1.1"},
			Radios: []Radio{
				{Band: "2.4GHz", Standards: "b,g,n,ax", Channel: 1, Bandwidth: "20MHz"},
				{Band: "5GHz", Standards: "a,n,ac,ax", Channel: 100, Bandwidth: "80MHz"},
			},
			SSIDsPerRadio:   1,
			SSIDPrefix:      "Cuttle-Mesh",
			Hosts:           Range{Min: 1, Max: 8},
			WiFiClients:     Range{Min: 1, Max: 8},
			Traffic:         Traffic{BytesPerSecond: Range{Min: 5_000, Max: 800_000}, ErrorsPerMillion: 200},
			ChurnSeconds:    600,
			DownloadSeconds: 30,
			TimeZone:        "UTC0",
		},
		"rpi-iot-gateway": {
			Name:            "rpi-iot-gateway",
			Description:     "A Raspberry Pi running an IoT gateway: sensors on Wi-Fi, low traffic.",
			Manufacturer:    "Raspberry Pi Ltd",
			OUI:             "DCA632",
			ModelName:       "Raspberry Pi 4 Model B",
			ProductClass:    "IoTGateway",
			HardwareVersion: "1.5",
			SerialPrefix:    "RPI",
			Firmware:        []string{"2024.11.1", "2025.03.0"},
			Radios: []Radio{
				{Band: "2.4GHz", Standards: "b,g,n", Channel: 11, Bandwidth: "20MHz"},
			},
			SSIDsPerRadio:   1,
			SSIDPrefix:      "iot-gw",
			Hosts:           Range{Min: 3, Max: 20},
			WiFiClients:     Range{Min: 2, Max: 16},
			Traffic:         Traffic{BytesPerSecond: Range{Min: 200, Max: 20_000}, ErrorsPerMillion: 500},
			ChurnSeconds:    1800,
			DownloadSeconds: 120,
			TimeZone:        "GMT0BST,M3.5.0/1,M10.5.0",
		},
	}
}

// DefaultName is the profile used when none is chosen.
const DefaultName = "home-gateway"

// Names lists the built-in profiles, sorted.
func Names() []string {
	var out []string
	for n := range builtins() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Builtin returns a copy of the built-in profile called name, validated.
func Builtin(name string) (*Profile, error) {
	p, ok := builtins()[name]
	if !ok {
		return nil, fmt.Errorf("%w: no built-in profile %q (have %v)", ErrInvalid, name, Names())
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Open returns the built-in profile called nameOrFile, or else loads the
// file it names.
func Open(nameOrFile string) (*Profile, error) {
	if _, ok := builtins()[nameOrFile]; ok {
		return Builtin(nameOrFile)
	}
	return Load(nameOrFile)
}
