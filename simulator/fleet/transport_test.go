package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"cuttle/broker"
	"cuttle/broker/certs"
	"cuttle/internal/testpki"
	"cuttle/internal/testutil"
	"cuttle/usp"
)

// localListener is an anonymous loopback listener: its clients get no
// inbox in CONNACK.
var localListener = broker.ListenerConfig{Name: "local", Type: broker.ListenerTCP, Addr: "127.0.0.1:0", Auth: broker.AuthAnonymous}

func TestNoTopicDisablesMTP(t *testing.T) {
	e := startEnv(t, func(c *broker.Config) { c.Listeners = append(c.Listeners, localListener) })
	f := e.startFleet([]DeviceConfig{{EndpointID: "proto::no-topic"}}, func(c *Config) { c.Brokers = []string{e.url("mqtt", "local")} })
	// R-MQTT.16: no Response Information, no subscribe-topic, nothing
	// configured: disconnect and stop.
	testutil.Eventually(t, 5*time.Second, "a disabled device", func() bool { return f.Stats().Disabled == 1 })
	time.Sleep(300 * time.Millisecond) // longer than the test backoff
	if s := f.Stats(); s.ConnectAttempts != 1 || s.RecordsSent != 0 {
		t.Errorf("a disabled device kept trying: %+v", s)
	}
}

func TestConfiguredResponseTopic(t *testing.T) {
	e := startEnv(t, func(c *broker.Config) { c.Listeners = append(c.Listeners, localListener) })
	ctrl := e.controller(testCtrl)
	const eid = "proto::configured"
	f := e.startFleet([]DeviceConfig{{EndpointID: eid}}, func(c *Config) {
		c.Brokers = []string{e.url("mqtt", "local")}
		c.ResponseTopic = "{prefix}/agent/{eid}"
	})
	r := ctrl.next(10*time.Second, "mqtt_connect", func(r received) bool { return r.rec.Kind == usp.KindMQTTConnect })
	if r.rec.MQTTConnect.SubscribedTopic != "usp/v1/agent/"+eid {
		t.Errorf("subscribed_topic %q", r.rec.MQTTConnect.SubscribedTopic)
	}
	waitConnected(t, f, 1, 5*time.Second)
	if r := ctrl.do(eid, usp.NewGet(0, "Device.LocalAgent.EndpointID")); r.msg.Body.(*usp.GetResp).Values()["Device.LocalAgent.EndpointID"] != eid {
		t.Errorf("Get: %#v", r.msg.Body)
	}
}

func TestFailover(t *testing.T) {
	e := startEnv(t, nil)
	devs := e.provision(prefix, 1)
	dead := "mqtt://" + testutil.RefusedAddr(t)
	f := e.startFleet(devs, func(c *Config) { c.Brokers = []string{dead, e.url("mqtt", "tcp")} })
	waitConnected(t, f, 1, 10*time.Second)
	if s := f.Stats(); s.ConnectFailures < 1 || s.LastError == "" {
		t.Errorf("stats: %+v", s)
	}
}

func TestWebSocketAndClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "sim-test")
	certFile, keyFile := testpki.WriteFiles(t, dir, ca.Server(t))
	tlsCfg := certs.Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.WriteCert(t, dir)}
	e := startEnv(t, func(c *broker.Config) {
		c.Listeners = append(c.Listeners,
			broker.ListenerConfig{Name: "ws", Type: broker.ListenerWS, Addr: "127.0.0.1:0"},
			broker.ListenerConfig{Name: "tls", Type: broker.ListenerTLS, Addr: "127.0.0.1:0", Auth: broker.AuthCert, TLS: tlsCfg})
	})
	ctrl := e.controller(testCtrl)
	devs := e.provision(prefix, 2)
	// The second device authenticates with a certificate naming its
	// endpoint ID (the credential exists, its secret is not used).
	client := ca.Client(t, testpki.ClientOpts{URIs: []string{"urn:bbf:usp:id:" + devs[1].EndpointID}})
	devs[1].Username, devs[1].Secret, devs[1].ClientCert = "", "", &client.TLS
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	wsFleet := e.startFleet(devs[:1], func(c *Config) { c.Brokers = []string{e.url("ws", "ws") + "/mqtt"} })
	tlsFleet := e.startFleet(devs[1:], func(c *Config) {
		c.Brokers = []string{e.url("mqtts", "tls")}
		c.TLS = &tls.Config{RootCAs: roots}
	})
	waitConnected(t, wsFleet, 1, 10*time.Second)
	waitConnected(t, tlsFleet, 1, 10*time.Second)
	for _, d := range devs {
		r := ctrl.do(d.EndpointID, usp.NewGet(0, "Device.WiFi.SSID.1.SSID"))
		if resp, ok := r.msg.Body.(*usp.GetResp); !ok || resp.Err() != nil || len(resp.Values()) != 1 {
			t.Errorf("%s: Get: %#v", d.EndpointID, r.msg.Body)
		}
	}
}
