package agent

import (
	"sync"

	"cuttle/devices/tr181"
)

// schema holds the objects of the shared TR-181 model that the agent gives
// behaviour to, found once for every agent.
type schema struct {
	model *tr181.Model

	root, deviceInfo, firmwareImage           *tr181.Object
	localAgent, mtp, mtpMQTT                  *tr181.Object
	controller, ctrlMTP, ctrlMTPMQTT, bootPrm *tr181.Object
	subscription, request                     *tr181.Object
	wifi, radio, ssid, ssidStats, ap, apSec   *tr181.Object
	assoc, ip, ipIf, ipv4, hosts, host, time  *tr181.Object

	// stats are the SSID.Stats. parameters, by role, for the traffic drift.
	stats struct{ bytesSent, bytesRecv, pktSent, pktRecv, errSent, errRecv *tr181.Param }
}

var dm = sync.OnceValue(func() *schema {
	m := tr181.Device()
	obj := func(p string) *tr181.Object {
		o := m.Object(p)
		if o == nil {
			panic("agent: data model has no " + p) // a mismatch between two packages of this module
		}
		return o
	}
	s := &schema{model: m}
	s.root = m.Root()
	s.deviceInfo = obj("Device.DeviceInfo.")
	s.firmwareImage = obj("Device.DeviceInfo.FirmwareImage.{i}.")
	s.localAgent = obj("Device.LocalAgent.")
	s.mtp = obj("Device.LocalAgent.MTP.{i}.")
	s.mtpMQTT = obj("Device.LocalAgent.MTP.{i}.MQTT.")
	s.controller = obj("Device.LocalAgent.Controller.{i}.")
	s.ctrlMTP = obj("Device.LocalAgent.Controller.{i}.MTP.{i}.")
	s.ctrlMTPMQTT = obj("Device.LocalAgent.Controller.{i}.MTP.{i}.MQTT.")
	s.bootPrm = obj("Device.LocalAgent.Controller.{i}.BootParameter.{i}.")
	s.subscription = obj("Device.LocalAgent.Subscription.{i}.")
	s.request = obj("Device.LocalAgent.Request.{i}.")
	s.wifi = obj("Device.WiFi.")
	s.radio = obj("Device.WiFi.Radio.{i}.")
	s.ssid = obj("Device.WiFi.SSID.{i}.")
	s.ssidStats = obj("Device.WiFi.SSID.{i}.Stats.")
	s.ap = obj("Device.WiFi.AccessPoint.{i}.")
	s.apSec = obj("Device.WiFi.AccessPoint.{i}.Security.")
	s.assoc = obj("Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.")
	s.ip = obj("Device.IP.")
	s.ipIf = obj("Device.IP.Interface.{i}.")
	s.ipv4 = obj("Device.IP.Interface.{i}.IPv4Address.{i}.")
	s.hosts = obj("Device.Hosts.")
	s.host = obj("Device.Hosts.Host.{i}.")
	s.time = obj("Device.Time.")
	st := s.ssidStats
	s.stats.bytesSent, s.stats.bytesRecv = st.Param("BytesSent"), st.Param("BytesReceived")
	s.stats.pktSent, s.stats.pktRecv = st.Param("PacketsSent"), st.Param("PacketsReceived")
	s.stats.errSent, s.stats.errRecv = st.Param("ErrorsSent"), st.Param("ErrorsReceived")
	return s
})
