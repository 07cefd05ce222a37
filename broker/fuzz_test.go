package broker

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"cuttle/broker/creds"
)

// FuzzPacketsAfterConnect writes arbitrary bytes to the broker after a
// valid, authenticated device CONNECT (and, for half the inputs, as the
// first packet), over a real socket: whatever they are, the broker must
// not panic (a panic in any connection's goroutine ends the process) and
// must keep serving other clients. Seeds are valid and damaged packets.
//
//	go test -run '^$' -fuzz FuzzPacketsAfterConnect -fuzztime 2m ./broker/
func FuzzPacketsAfterConnect(f *testing.F) {
	// Inputs that are CONNECTs with wrong credentials must not lock the
	// test's own device out.
	e := startEnv(f, func(c *Config) { c.Lockout.MaxFailures = 1 << 30 })
	var serving atomic.Int64
	secA := e.addCred(creds.RoleDevice, devA, "")
	e.addCred(creds.RoleController, ctlC, "")
	connect := encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30,
			UsernameFlag: true, Username: []byte(devA), PasswordFlag: true, Password: []byte(secA)}})

	inbox := "usp/v1/controller/" + ctlC
	rec := record(f, devA, ctlC)
	seeds := [][]byte{
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5, TopicName: inbox, PacketID: 1, Payload: rec}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5, TopicName: inbox, Payload: rec,
			Properties: packets.Properties{TopicAlias: 1, TopicAliasFlag: true, User: []packets.UserProperty{{Key: "k", Val: "v"}}}}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 2,
			Filters: packets.Subscriptions{{Filter: "usp/v1/agent/" + devA, Qos: 1}}}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 3,
			Filters: packets.Subscriptions{{Filter: "#"}}}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: 9, ReasonCode: 0x80}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, ProtocolVersion: 5, PacketID: 4}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Auth}, ProtocolVersion: 5, ReasonCode: 0x18}),
		encode(f, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5, ReasonCode: 0x04,
			Properties: packets.Properties{SessionExpiryInterval: 60, SessionExpiryIntervalFlag: true}}),
		{0xc0, 0x00},                              // PINGREQ
		{0x30, 0xff, 0xff, 0xff, 0x7f},            // PUBLISH claiming 256 MiB
		{0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00}, // QoS 1 PUBLISH with packet ID 0
		{0x82, 0x04, 0x00, 0x01, 0x00, 0x00},      // SUBSCRIBE with no filters
		connect,                                   // a second CONNECT
	}
	for i, s := range seeds {
		f.Add(s, i%2 == 0)
		if len(s) > 3 {
			f.Add(s[:len(s)/2], false) // truncated
		}
	}

	f.Fuzz(func(t *testing.T, data []byte, first bool) {
		c, err := net.Dial("tcp", e.b.Addr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		msg := data
		if !first {
			msg = append(append([]byte{}, connect...), data...)
		}
		if _, err := c.Write(msg); err != nil {
			return // the broker may close on the first bad byte
		}
		// Read whatever the broker answers until it closes or goes quiet.
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c)
		// Still serving: a well-behaved device connects and subscribes.
		if serving.Add(1)%50 != 1 {
			return // every 50th input, to keep the fuzzer fast
		}
		it := *e
		it.t = t // the harness reports through the input's own test
		dev, code, err := it.dial(dialOpts{username: devA, password: secA})
		if err != nil || dev == nil {
			t.Fatalf("after %q: a device cannot connect: 0x%02x %v", data, code, err)
		}
		if code := dev.subscribe(t, "usp/v1/agent/"+devA, 1); code != codeGrantedQoS1 {
			t.Fatalf("after %q: subscribe 0x%02x", data, code)
		}
	})
}

func encode(t testing.TB, pk packets.Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(&buf)
	case packets.Auth:
		err = pk.AuthEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
