package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"cuttle/simulator/profile"
)

// Hosts come and go: each has a row in Device.Hosts.Host and, when on
// Wi-Fi, one in its access point's AssociatedDevice table. Both are created
// and deleted together, with ObjectCreation/ObjectDeletion notifications.

var hostNames = []string{"android", "iPhone", "iPad", "LAPTOP", "DESKTOP", "MacBook", "chromecast",
	"echo", "shelly", "esp32", "tasmota", "printer", "tv", "nas"}

// randomMAC returns a locally administered unicast MAC, as phones and
// laptops use for privacy.
func (a *Agent) randomMAC() string {
	v := a.rnd.Uint64() & 0xFFFFFFFFFFFF
	v = v&^(0x03<<40) | 0x02<<40
	return profile.FormatMAC(v)
}

// fillAssoc fills in a new AssociatedDevice row of ap for a client.
func (a *Agent) fillAssoc(ad, ap *node, mac string) {
	std := "n"
	if ssid := a.nodeAt(ap.get("SSIDReference")); ssid != nil {
		if radio := a.nodeAt(ssid.get("LowerLayers")); radio != nil {
			stds := strings.Split(radio.get("OperatingStandards"), ",")
			std = stds[len(stds)-1]
		}
	}
	ad.put("MACAddress", mac)
	ad.put("AuthenticationState", "true")
	ad.put("OperatingStandard", std)
	ad.put("SignalStrength", strconv.Itoa(-35-a.rnd.IntN(45)))
	ad.put("Noise", strconv.Itoa(-90-a.rnd.IntN(6)))
	ad.put("LastDataDownlinkRate", strconv.Itoa(20000+a.rnd.IntN(580000)))
	ad.put("LastDataUplinkRate", strconv.Itoa(10000+a.rnd.IntN(290000)))
	ad.put("Active", "true")
}

// fillHost fills in a new Hosts.Host row; ad is its AssociatedDevice row
// for a Wi-Fi client, nil on Ethernet.
func (a *Agent) fillHost(h, hosts *node, mac string, ad *node, now string) {
	h.put("PhysAddress", mac)
	h.put("IPAddress", a.freeIP(hosts))
	h.put("HostName", fmt.Sprintf("%s-%04x", hostNames[a.rnd.IntN(len(hostNames))], a.rnd.IntN(0x10000)))
	h.put("Active", "true")
	h.put("ActiveLastChange", now)
	h.put("Layer3Interface", "Device.IP.Interface.2")
	if ad != nil {
		h.put("InterfaceType", "Wi-Fi")
		h.put("Layer1Interface", ad.parent.get("SSIDReference"))
		h.put("AssociatedDevice", ad.ref())
	} else {
		h.put("InterfaceType", "Ethernet")
	}
}

// freeIP returns the lowest LAN address from 192.168.1.100 that no host
// has.
func (a *Agent) freeIP(hosts *node) string {
	used := make(map[string]bool)
	for _, h := range hosts.rows(dm().host) {
		used[h.get("IPAddress")] = true
	}
	for i := 100; i < 255; i++ {
		if ip := "192.168.1." + strconv.Itoa(i); !used[ip] {
			return ip
		}
	}
	return ""
}

// churn lets a host join or leave now and then: on average once every
// ChurnSeconds, keeping within the profile's ranges.
func (a *Agent) churn(dt time.Duration) {
	if a.prof.ChurnSeconds <= 0 {
		return
	}
	if a.rnd.Float64() >= min(1, dt.Seconds()/float64(a.prof.ChurnSeconds)) {
		return
	}
	hosts := a.root.child("Hosts")
	rows := hosts.rows(dm().host)
	join := a.rnd.IntN(2) == 0
	switch {
	case len(rows) <= a.prof.Hosts.Min:
		join = true
	case len(rows) >= a.prof.Hosts.Max:
		join = false
	}
	if join {
		a.hostJoins(hosts)
	} else {
		a.hostLeaves(rows[a.rnd.IntN(len(rows))])
	}
}

// hostJoins adds a host, on Wi-Fi when the profile allows more clients.
func (a *Agent) hostJoins(hosts *node) {
	s := dm()
	var aps []*node
	clients := 0
	for _, ap := range a.root.child("WiFi").rows(s.ap) {
		clients += len(ap.rows(s.assoc))
		if ap.get("Enable") == "true" {
			aps = append(aps, ap)
		}
	}
	wifi := len(aps) > 0 && clients < a.prof.WiFiClients.Max &&
		(clients < a.prof.WiFiClients.Min || a.rnd.IntN(10) < 6)
	mac := a.randomMAC()
	var ad *node
	if wifi {
		ap := aps[a.rnd.IntN(len(aps))]
		ad = a.addRow(ap, s.assoc)
		a.fillAssoc(ad, ap, mac)
		a.created(ad)
	}
	h := a.addRow(hosts, s.host)
	h.put("Alias", "cpe-"+uitoa(h.num))
	a.fillHost(h, hosts, mac, ad, a.now.UTC().Truncate(time.Second).Format(time.RFC3339))
	a.created(h)
}

// hostLeaves removes a host and its Wi-Fi association.
func (a *Agent) hostLeaves(h *node) {
	if ad := a.nodeAt(h.get("AssociatedDevice")); ad != nil && ad.obj == dm().assoc {
		a.deleteRow(ad, true)
	}
	a.deleteRow(h, true)
}
