package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"cuttle/devices/tr181"
)

// AgentVersion is Device.LocalAgent.SoftwareVersion.
const AgentVersion = "cuttle-sim 0.1"

// appendRow adds a row while the model is being built: no notifications, no
// transaction.
func appendRow(parent *node, t *tr181.Object) *node {
	k := &parent.kids[t.ChildIndex]
	k.last++
	row := newNode(t, parent, k.last)
	k.rows = append(k.rows, row)
	if t.CountParam != nil {
		parent.vals[t.CountParam.Index] = strconv.Itoa(len(k.rows))
	}
	if t.Param("Alias") != nil {
		row.put("Alias", "cpe-"+uitoa(row.num))
	}
	return row
}

// build makes the device's data model as it is out of the box, from the
// profile and the device's own values, and makes it the agent's.
func (a *Agent) build(ctrls []Controller) *node {
	s := dm()
	p, d := a.prof, &a.dev
	root := newNode(s.root, nil, 0)
	a.root = root // references are resolved while building
	now := a.now.UTC().Truncate(time.Second).Format(time.RFC3339)

	di := root.child("DeviceInfo")
	for name, v := range map[string]string{
		"Manufacturer": p.Manufacturer, "ManufacturerOUI": p.OUI, "ModelName": p.ModelName,
		"ModelNumber": p.HardwareVersion, "Description": truncate(p.Description, 256),
		"ProductClass": p.ProductClass, "SerialNumber": d.SerialNumber, "HardwareVersion": p.HardwareVersion,
		"SoftwareVersion": d.Firmware, "HostName": strings.ToLower(p.ProductClass) + "-" + d.SerialNumber,
		"UpTime": "0",
	} {
		di.put(name, v)
	}
	active := appendRow(di, s.firmwareImage)
	a.fillImage(active, d.Firmware, "Active")
	other := appendRow(di, s.firmwareImage)
	if d.PreviousFirmware != "" {
		a.fillImage(other, d.PreviousFirmware, "Available")
	}
	di.put("ActiveFirmwareImage", active.ref())
	di.put("BootFirmwareImage", active.ref())

	la := root.child("LocalAgent")
	la.put("EndpointID", a.eid)
	la.put("SoftwareVersion", AgentVersion)
	la.put("SupportedProtocols", "MQTT")
	la.put("UpTime", "0")
	mtp := appendRow(la, s.mtp)
	mtp.put("Enable", "true")
	mtp.put("Status", "Up")
	mtp.put("Protocol", "MQTT")
	mtp.child("MQTT").put("PublishQoS", "1")
	for _, c := range ctrls {
		cr := appendRow(la, s.controller)
		cr.put("EndpointID", c.EndpointID)
		cr.put("Enable", "true")
		cm := appendRow(cr, s.ctrlMTP)
		cm.put("Enable", "true")
		cm.put("Protocol", "MQTT")
		cm.child("MQTT").put("Topic", c.Topic)
		cm.child("MQTT").put("AgentMTPReference", mtp.ref())
	}

	aps := a.buildWiFi(root.child("WiFi"))
	a.buildIP(root.child("IP"))
	a.buildHosts(root.child("Hosts"), aps, now)

	t := root.child("Time")
	t.put("Enable", "true")
	t.put("Status", "Synchronized")
	t.put("NTPServer1", "0.pool.ntp.org")
	t.put("NTPServer2", "1.pool.ntp.org")
	t.put("LocalTimeZone", p.TimeZone)
	t.put("CurrentLocalTime", now)
	return root
}

func (a *Agent) fillImage(img *node, version, status string) {
	name := strings.ToLower(strings.ReplaceAll(a.prof.ModelName, " ", "-")) + "-" + version + ".bin"
	img.put("Name", truncate(name, 64))
	img.put("Version", version)
	img.put("Available", "true")
	img.put("Status", status)
}

var possibleChannels = map[string]string{
	"2.4GHz": "1,2,3,4,5,6,7,8,9,10,11,12,13",
	"5GHz":   "36,40,44,48,52,56,60,64,100,104,108,112,116,120,124,128,132,136,140",
	"6GHz":   "1,5,9,13,17,21,25,29,33,37,41,45,49,53,57,61,65,69,73,77,81,85,89,93",
}

// buildWiFi makes the radios, and on each the profile's SSIDs with one
// access point each: the first SSID of a radio is the home network and is
// enabled, the others are guest networks and are not. It returns the
// enabled access points.
func (a *Agent) buildWiFi(wifi *node) []*node {
	s := dm()
	p, d := a.prof, &a.dev
	var aps []*node
	suffix := d.SerialNumber[max(0, len(d.SerialNumber)-4):]
	for ri, r := range p.Radios {
		radio := appendRow(wifi, s.radio)
		radio.put("Enable", "true")
		radio.put("Status", "Up")
		radio.put("Name", fmt.Sprintf("wl%d", ri))
		radio.put("OperatingFrequencyBand", r.Band)
		radio.put("SupportedStandards", r.Standards)
		radio.put("OperatingStandards", r.Standards)
		radio.put("PossibleChannels", possibleChannels[r.Band])
		radio.put("Channel", strconv.Itoa(r.Channel))
		radio.put("OperatingChannelBandwidth", r.Bandwidth)
		radio.put("RegulatoryDomain", "US ")
		for si := 0; si < p.SSIDsPerRadio; si++ {
			home := si == 0
			ssid := appendRow(wifi, s.ssid)
			ssid.put("Enable", strconv.FormatBool(home))
			ssid.put("Status", pick(home, "Up", "Down"))
			ssid.put("Name", fmt.Sprintf("wl%d.%d", ri, si))
			ssid.put("LowerLayers", radio.ref())
			mac := d.MAC(2 + len(wifi.rows(s.ssid)))
			ssid.put("BSSID", mac)
			ssid.put("MACAddress", mac)
			name := p.SSIDPrefix + "-" + suffix
			if r.Band != "2.4GHz" {
				name += "-" + strings.TrimSuffix(r.Band, "Hz")
			}
			if !home {
				name += "-Guest"
			}
			ssid.put("SSID", truncate(name, 32))

			ap := appendRow(wifi, s.ap)
			ap.put("Enable", strconv.FormatBool(home))
			ap.put("Status", pick(home, "Enabled", "Disabled"))
			ap.put("SSIDReference", ssid.ref())
			sec := ap.child("Security")
			sec.put("ModesSupported", "None,WPA2-Personal,WPA3-Personal,WPA2-WPA3-Personal")
			if strings.Contains(r.Standards, "ax") {
				sec.put("ModeEnabled", "WPA2-WPA3-Personal")
			}
			sec.put("KeyPassphrase", fmt.Sprintf("%016x", a.rnd.Uint64()))
			if home {
				aps = append(aps, ap)
			}
		}
	}
	return aps
}

// buildIP makes the WAN interface (eth0, a DHCP address in 100.64.0.0/10),
// the LAN bridge (br-lan, 192.168.1.1/24) and the loopback.
func (a *Agent) buildIP(ip *node) {
	s := dm()
	wanIP := fmt.Sprintf("100.%d.%d.%d", 64+a.rnd.IntN(64), a.rnd.IntN(256), 1+a.rnd.IntN(254))
	for _, itf := range []struct{ name, typ, addr, mask, how string }{
		{"eth0", "Normal", wanIP, "255.192.0.0", "DHCP"},
		{"br-lan", "Normal", "192.168.1.1", "255.255.255.0", "Static"},
		{"lo", "Loopback", "127.0.0.1", "255.0.0.0", "Static"},
	} {
		n := appendRow(ip, s.ipIf)
		n.put("Enable", "true")
		n.put("Status", "Up")
		n.put("Name", itf.name)
		n.put("Type", itf.typ)
		n.put("IPv4Enable", "true")
		if itf.typ == "Loopback" {
			n.put("MaxMTUSize", "65535")
		}
		addr := appendRow(n, s.ipv4)
		addr.put("Enable", "true")
		addr.put("Status", "Enabled")
		addr.put("IPAddress", itf.addr)
		addr.put("SubnetMask", itf.mask)
		addr.put("AddressingType", itf.how)
	}
}

// buildHosts makes the device's LAN hosts; WiFiClients of them are
// associated with the enabled access points.
func (a *Agent) buildHosts(hosts *node, aps []*node, now string) {
	s := dm()
	wifi := a.dev.WiFiClients
	if len(aps) == 0 {
		wifi = 0
	}
	for i := 0; i < a.dev.Hosts; i++ {
		mac := a.randomMAC()
		var ad *node
		if i < wifi {
			ap := aps[i%len(aps)]
			ad = appendRow(ap, s.assoc)
			a.fillAssoc(ad, ap, mac)
		}
		h := appendRow(hosts, s.host)
		a.fillHost(h, hosts, mac, ad, now)
	}
}
