package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cuttle/usp"
)

// stampWidth is the fixed width of the send time (unix nanoseconds, zero
// padded) carried in each Record's msg_id. A fixed width lets a Record be
// encoded before the clock starts and stamped in place at send time, so the
// publishers spend their CPU on MQTT rather than on protobuf.
const stampWidth = 19

var stampHole = []byte(strings.Repeat("0", stampWidth))

// errNotBench is returned for a payload that is a valid Record but not one
// this harness sent.
var errNotBench = errors.New("not a brokerbench record")

// stamped is one encoded USP Record whose send time is written just before
// it is published.
type stamped struct {
	payload []byte
	at      int // offset of the stamp in payload
}

// newStamped encodes a no_session_context Record from fromID to toID whose
// msg_id is "bench-<run>-<dev>-<seq>-<stamp>". Fan-in sends a Notify (a
// ValueChange, what devices send most) and fan-out a Get (what controllers
// send most).
func newStamped(fromID, toID string, run, dev, seq int, fanIn bool) (stamped, error) {
	id := "bench-" + strconv.Itoa(run) + "-" + strconv.Itoa(dev) + "-" + strconv.Itoa(seq) + "-" + string(stampHole)
	var body usp.Body = usp.NewGet(0, "Device.DeviceInfo.")
	if fanIn {
		body = usp.NewNotify("bench", false, &usp.ValueChange{Path: "Device.DeviceInfo.UpTime", Value: strconv.Itoa(seq)})
	}
	rec, err := usp.NewMsgRecord(fromID, toID, id, body)
	if err != nil {
		return stamped{}, fmt.Errorf("building record: %w", err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return stamped{}, fmt.Errorf("encoding record: %w", err)
	}
	// The msg_id is copied verbatim into the Msg and the Msg into the
	// Record, so the hole appears in the encoding exactly once.
	if bytes.Count(b, stampHole) != 1 {
		return stamped{}, fmt.Errorf("record for %s: stamp not found exactly once", fromID)
	}
	return stamped{payload: b, at: bytes.Index(b, stampHole)}, nil
}

// stamp writes t into the Record and returns the payload to publish. Each
// stamped value is published once, so it is written in place.
func (s stamped) stamp(t time.Time) []byte {
	n := t.UnixNano()
	hole := s.payload[s.at : s.at+stampWidth]
	for i := stampWidth - 1; i >= 0; i-- {
		hole[i] = byte('0' + n%10)
		n /= 10
	}
	return s.payload
}

// received is what a receiver learns from one Record.
type received struct {
	run, dev, seq int
	sent          time.Time
	fromID        string
}

// parseStamped decodes a Record the way a USP endpoint would (full parse,
// then the Msg) and reads the device index, sequence number and send time
// from its msg_id.
func parseStamped(payload []byte) (received, error) {
	rec, err := usp.ParseRecord(payload)
	if err != nil {
		return received{}, err
	}
	msg, err := rec.Message()
	if err != nil {
		return received{}, err
	}
	parts := strings.Split(msg.ID, "-")
	if len(parts) != 5 || parts[0] != "bench" || len(parts[4]) != stampWidth {
		return received{}, fmt.Errorf("%w: msg_id %q", errNotBench, msg.ID)
	}
	run, err0 := strconv.Atoi(parts[1])
	dev, err1 := strconv.Atoi(parts[2])
	seq, err2 := strconv.Atoi(parts[3])
	ns, err3 := strconv.ParseInt(parts[4], 10, 64)
	if err := errors.Join(err0, err1, err2, err3); err != nil {
		return received{}, fmt.Errorf("%w: msg_id %q: %v", errNotBench, msg.ID, err)
	}
	return received{run: run, dev: dev, seq: seq, sent: time.Unix(0, ns), fromID: rec.FromID}, nil
}
