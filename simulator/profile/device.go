package profile

import (
	"fmt"
	"hash/fnv"
)

// Device is one simulated device's own values, drawn from a profile. The
// same profile, index and seed always give the same Device.
type Device struct {
	// Index is the device's position in the fleet.
	Index        int
	SerialNumber string
	// Firmware is the running firmware version; PreviousFirmware is the
	// version in the second image slot ("" when there is none).
	Firmware         string
	PreviousFirmware string
	// Hosts and WiFiClients are the device's LAN hosts at start, of which
	// WiFiClients are on Wi-Fi.
	Hosts       int
	WiFiClients int
	// BytesPerSecond is the device's average throughput per SSID and
	// direction.
	BytesPerSecond int
	// Seed seeds the device's ongoing randomness (traffic jitter, hosts
	// joining and leaving).
	Seed uint64

	macBase uint64
}

// macsPerDevice is how many consecutive MAC addresses each device owns
// (WAN, LAN bridge, one per SSID...).
const macsPerDevice = 16

// Device returns the values of the device with the given index. Serial
// numbers and MAC addresses are unique within a fleet (of up to a million
// devices per profile and seed); the rest is pseudo-random.
func (p *Profile) Device(index int, seed uint64) Device {
	r := rng{s: p.hash() ^ seed*0x9E3779B97F4A7C15 ^ uint64(index)*0xBF58476D1CE4E5B9}
	d := Device{Index: index, SerialNumber: p.Serial(index), Seed: r.next()}

	// Most devices run the newest firmware; some lag behind.
	i := len(p.Firmware) - 1
	switch roll := r.intn(100); {
	case roll >= 90 && i >= 2:
		i = r.intn(i - 1)
	case roll >= 70 && i >= 1:
		i--
	}
	d.Firmware = p.Firmware[i]
	if i > 0 {
		d.PreviousFirmware = p.Firmware[i-1]
	}

	d.Hosts = r.between(p.Hosts)
	d.WiFiClients = min(r.between(p.WiFiClients), d.Hosts)
	d.BytesPerSecond = r.between(p.Traffic.BytesPerSecond)

	var oui uint64
	fmt.Sscanf(p.OUI, "%06X", &oui)
	d.macBase = oui<<24 | (uint64(index)*macsPerDevice+seed*macsPerDevice)&0xFFFFFF
	return d
}

// MAC returns the device's n-th own MAC address (0 ≤ n < 16), e.g.
// "00:d0:9e:00:00:10".
func (d *Device) MAC(n int) string {
	return FormatMAC(d.macBase + uint64(n%macsPerDevice))
}

// FormatMAC writes the low 48 bits of v as a lower-case MAC address.
func FormatMAC(v uint64) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x",
		byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Serial returns the serial number of the device with the given index, e.g.
// "HGW000042".
func (p *Profile) Serial(index int) string {
	return fmt.Sprintf("%s%06d", p.SerialPrefix, index)
}

// EndpointID returns the USP endpoint ID of the device with the given index
// in the "os" scheme, os::<OUI>-<SerialNumber> (TR-369 §"Endpoint ID"), which
// matches DeviceInfo.ManufacturerOUI and SerialNumber.
func (p *Profile) EndpointID(index int) string {
	return "os::" + p.OUI + "-" + p.Serial(index)
}

func (p *Profile) hash() uint64 {
	h := fnv.New64a()
	h.Write([]byte(p.Name))
	return h.Sum64()
}

// rng is splitmix64: tiny, fast and good enough to spread values.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (r *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.next() % uint64(n))
}

func (r *rng) between(rg Range) int { return rg.Min + r.intn(rg.Max-rg.Min+1) }
