package pahoconn

import (
	"bytes"
	"net"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// recordingConn keeps each Write as it came.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestWholePackets writes SUBSCRIBEs and PINGREQs from two goroutines the
// way paho does (ControlPacket.WriteTo, in pieces under the Locker): each
// packet must reach the connection as one write of its own.
func TestWholePackets(t *testing.T) {
	rec := &recordingConn{}
	c := New(rec, Options{KeepBuffer: 64})
	sub := packets.NewControlPacket(packets.SUBSCRIBE)
	sub.Content.(*packets.Subscribe).Subscriptions = []packets.SubOptions{{Topic: "usp/v1/agent/os::012345-0001", QoS: 1}}
	sub.Content.(*packets.Subscribe).PacketID = 1
	var want bytes.Buffer
	if _, err := sub.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			if _, err := sub.WriteTo(c); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range n {
			if _, err := packets.NewControlPacket(packets.PINGREQ).WriteTo(c); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	subs, pings := 0, 0
	for _, w := range rec.writes {
		switch {
		case bytes.Equal(w, want.Bytes()):
			subs++
		case bytes.Equal(w, []byte{0xc0, 0x00}):
			pings++
		default:
			t.Fatalf("a write that is no whole packet: % x", w)
		}
	}
	if subs != n || pings != n {
		t.Errorf("%d SUBSCRIBEs and %d PINGREQs written whole, want %d each", subs, pings, n)
	}
}
