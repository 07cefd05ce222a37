package usp

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"cuttle/usp/usperr"
)

// seedRecords adds the real vectors and one Record of every message type.
func seedRecords(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "vectors", "*.bin"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for name, body := range sampleBodies() {
		r, err := NewMsgRecord("os::012345-F", "self::ctl", name, body)
		if err != nil {
			f.Fatal(err)
		}
		b, err := r.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseRecord checks that no input panics the Record decoders, that
// failures carry a Record error code, that PeekRecord agrees with ParseRecord
// on every Record ParseRecord accepts, and that decode(encode(r)) == r.
func FuzzParseRecord(f *testing.F) {
	seedRecords(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, perr := PeekRecord(b)
		r, err := ParseRecord(b)
		if err != nil {
			if c := usperr.CodeOf(err); c < usperr.RecordNotParsed || c > usperr.SessionContextNotAllowed {
				t.Fatalf("ParseRecord error has code %v: %v", c, err)
			}
			return
		}
		if perr != nil || h != r.RecordHeader {
			t.Fatalf("PeekRecord = %+v, %v; ParseRecord header %+v", h, perr, r.RecordHeader)
		}
		switch r.Kind {
		case KindMsg, KindMQTTConnect, KindDisconnect:
		default:
			return // kinds Cuttle receives but never sends
		}
		again, err := r.Marshal()
		if err != nil {
			t.Fatalf("re-encoding a valid record: %v", err)
		}
		r2, err := ParseRecord(again)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
	})
}

// FuzzUnmarshalMsg checks that no input panics the Msg decoder, that failures
// are *usperr.Error values, and that decode(encode(m)) == m for every valid Msg.
func FuzzUnmarshalMsg(f *testing.F) {
	for name, body := range sampleBodies() {
		b, err := MarshalMsg(name, body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalMsg(b)
		if err != nil {
			if usperr.CodeOf(err) == usperr.InternalError {
				t.Fatalf("decode error without a USP code: %v", err)
			}
			return
		}
		again, err := MarshalMsg(m.ID, m.Body)
		if err != nil {
			t.Fatalf("re-encoding a valid msg: %v", err)
		}
		m2, err := UnmarshalMsg(again)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the msg:\n%#v\n%#v", m.Body, m2.Body)
		}
	})
}
