package broker

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"cuttle/broker/creds"
)

// TestWebSocket connects a device over MQTT-over-WebSocket (path /mqtt,
// subprotocol "mqtt") and exchanges a request with a TCP controller.
func TestWebSocket(t *testing.T) {
	e := startEnv(t, func(c *Config) {
		c.Listeners = append(c.Listeners, ListenerConfig{Name: "ws", Type: ListenerWS, Addr: "127.0.0.1:0"})
	})
	secA := e.addCred(creds.RoleDevice, devA, "")
	secC := e.addCred(creds.RoleController, ctlC, "")

	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	if _, resp, err := d.Dial("ws://"+e.b.Addr("ws")+"/elsewhere", nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a path other than /mqtt was served: %v", err)
	}
	// paho writes a packet in pieces under a Locker; without one, the
	// PINGREQ it sends at once can land inside the SUBSCRIBE (as in dial).
	ws, _, err := d.Dial("ws://"+e.b.Addr("ws")+"/mqtt", nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *paho.Publish, 10)
	dev := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(&wsConn{Conn: ws}), OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { msgs <- pr.Packet; return true, nil },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := dev.Connect(ctx, &paho.Connect{Username: devA, UsernameFlag: true, Password: []byte(secA), PasswordFlag: true, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dev.Disconnect(&paho.Disconnect{}) }()
	if _, err := dev.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "usp/v1/agent/" + devA, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	ctl := e.mustDial(dialOpts{username: ctlC, password: secC})
	payload := record(t, ctlC, devA)
	if code := ctl.publish(t, &paho.Publish{Topic: "usp/v1/agent/" + devA, QoS: 1, Payload: payload}); code != codeSuccess {
		t.Fatalf("publish 0x%02x", code)
	}
	select {
	case m := <-msgs:
		if string(m.Payload) != string(payload) {
			t.Errorf("payload %x", m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received over WebSocket")
	}
}
