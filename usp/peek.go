package usp

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"cuttle/usp/usperr"
)

// PeekRecord reads only the header of a serialized Record (version, to_id,
// from_id and which record type it holds) without decoding or copying its
// payload. The broker calls it on every Record a device publishes to check
// from_id, so it allocates nothing but the three strings.
//
// It rejects bytes that are not a well-formed Record (RecordNotParsed) and a
// Record missing from_id, to_id or a record type (InvalidRecordValue). Any
// Record that ParseRecord accepts, PeekRecord accepts with the same header;
// PeekRecord does not look inside the payload.
func PeekRecord(b []byte) (RecordHeader, error) {
	var h RecordHeader
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return h, peekErr(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && num >= 1 && num <= 13 && num != 4 {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return h, peekErr(n)
			}
			b = b[n:]
			switch num {
			case 1, 2, 3:
				// proto3 strings must be UTF-8; keep the same rule as the
				// full decoder.
				if !utf8.Valid(v) {
					return h, usperr.New(usperr.RecordNotParsed, "record field %d is not valid UTF-8", num)
				}
				switch num {
				case 1:
					h.Version = string(v)
				case 2:
					h.ToID = string(v)
				case 3:
					h.FromID = string(v)
				}
			case 5, 6:
				// mac_signature, sender_cert: not needed here.
			default:
				// The oneof record_type (7–13): the last one seen wins, as in
				// the full decoder.
				h.Kind = RecordKind(num - 6)
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return h, peekErr(n)
		}
		b = b[n:]
	}
	switch {
	case h.FromID == "":
		return h, usperr.New(usperr.InvalidRecordValue, "record has no from_id")
	case h.ToID == "":
		return h, usperr.New(usperr.InvalidRecordValue, "record has no to_id")
	case h.Kind == KindNone:
		return h, usperr.New(usperr.InvalidRecordValue, "record has no record_type")
	}
	return h, nil
}

func peekErr(n int) error {
	return usperr.New(usperr.RecordNotParsed, "record could not be parsed: %v", protowire.ParseError(n))
}
