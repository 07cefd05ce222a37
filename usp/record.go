package usp

import (
	"strings"

	"google.golang.org/protobuf/proto"

	"cuttle/proto/usprecord"
	"cuttle/usp/usperr"
)

// DefaultVersion is the USP version Cuttle stamps on the Records it sends
// unless told otherwise. It is what the Broadband Forum's reference agent
// sends and every peer from 1.0 up accepts it.
const DefaultVersion = "1.3"

// SupportedVersions are the USP versions whose Records Cuttle accepts.
var SupportedVersions = []string{"1.0", "1.1", "1.2", "1.3", "1.4"}

// IsSupportedVersion reports whether v is one of SupportedVersions.
func IsSupportedVersion(v string) bool {
	for _, s := range SupportedVersions {
		if v == s {
			return true
		}
	}
	return false
}

// RecordKind says which record_type a Record carries.
type RecordKind int

// The record types of USP 1.4.
const (
	KindNone RecordKind = iota
	KindMsg             // no_session_context: one serialized Msg
	KindSessionContext
	KindWebSocketConnect
	KindMQTTConnect
	KindSTOMPConnect
	KindDisconnect
	KindUDSConnect
)

var kindNames = [...]string{"none", "no_session_context", "session_context", "websocket_connect",
	"mqtt_connect", "stomp_connect", "disconnect", "uds_connect"}

// String returns the proto field name of k, e.g. "mqtt_connect".
func (k RecordKind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// MQTTVersion is the MQTT protocol version in an MQTTConnectRecord.
type MQTTVersion = usprecord.MQTTConnectRecord_MQTTVersion

// MQTT versions of an MQTTConnectRecord.
const (
	MQTTv311 = usprecord.MQTTConnectRecord_V3_1_1
	MQTTv5   = usprecord.MQTTConnectRecord_V5
)

// RecordHeader holds the fields every Record has.
type RecordHeader struct {
	// Version is the sender's USP version, "Major.Minor".
	Version string
	ToID    string
	FromID  string
	Kind    RecordKind
}

// Record is a decoded USP Record. Payload, MQTTConnect and Disconnect are set
// according to Kind.
type Record struct {
	RecordHeader
	// Payload is the serialized Msg of a KindMsg Record; Message decodes it.
	Payload     []byte
	MQTTConnect *MQTTConnect
	Disconnect  *Disconnect
}

// MQTTConnect is the content of an mqtt_connect Record.
type MQTTConnect struct {
	Version MQTTVersion
	// SubscribedTopic is the sender's reply-to topic: concrete, no wildcards.
	SubscribedTopic string
}

// Disconnect is the content of a disconnect Record.
type Disconnect struct {
	Reason string
	// Code should be one of the Record error codes 7100–7106 (R-MTP.9).
	Code usperr.Code
}

// NewMsgRecord wraps a Msg with the given msg_id and body in a
// no_session_context Record from fromID to toID.
func NewMsgRecord(fromID, toID, msgID string, b Body) (*Record, error) {
	payload, err := MarshalMsg(msgID, b)
	if err != nil {
		return nil, err
	}
	return &Record{RecordHeader: RecordHeader{Version: DefaultVersion, FromID: fromID, ToID: toID, Kind: KindMsg}, Payload: payload}, nil
}

// NewMQTTConnectRecord returns the MQTT 5 Connect Record an agent sends to a
// controller before any other Record (R-MTP.6), announcing topic as the
// agent's reply-to topic.
func NewMQTTConnectRecord(fromID, toID, topic string) *Record {
	return &Record{
		RecordHeader: RecordHeader{Version: DefaultVersion, FromID: fromID, ToID: toID, Kind: KindMQTTConnect},
		MQTTConnect:  &MQTTConnect{Version: MQTTv5, SubscribedTopic: topic},
	}
}

// NewDisconnectRecord returns the Record an endpoint sends before leaving a
// channel (R-MTP.7).
func NewDisconnectRecord(fromID, toID, reason string, code usperr.Code) *Record {
	return &Record{
		RecordHeader: RecordHeader{Version: DefaultVersion, FromID: fromID, ToID: toID, Kind: KindDisconnect},
		Disconnect:   &Disconnect{Reason: reason, Code: code},
	}
}

// Marshal serializes r. An empty Version is sent as DefaultVersion. Only the
// kinds Cuttle sends (Msg, MQTT connect, disconnect) can be marshalled.
func (r *Record) Marshal() ([]byte, error) {
	v := r.Version
	if v == "" {
		v = DefaultVersion
	}
	out := &usprecord.Record{Version: v, ToId: r.ToID, FromId: r.FromID}
	switch r.Kind {
	case KindMsg:
		if len(r.Payload) == 0 {
			return nil, usperr.New(usperr.InvalidRecordValue, "no_session_context record needs a payload")
		}
		out.RecordType = &usprecord.Record_NoSessionContext{NoSessionContext: &usprecord.NoSessionContextRecord{Payload: r.Payload}}
	case KindMQTTConnect:
		if r.MQTTConnect == nil {
			return nil, usperr.New(usperr.InvalidRecordValue, "mqtt_connect record needs its content")
		}
		out.RecordType = &usprecord.Record_MqttConnect{MqttConnect: &usprecord.MQTTConnectRecord{
			Version: r.MQTTConnect.Version, SubscribedTopic: r.MQTTConnect.SubscribedTopic,
		}}
	case KindDisconnect:
		d := r.Disconnect
		if d == nil {
			d = &Disconnect{}
		}
		out.RecordType = &usprecord.Record_Disconnect{Disconnect: &usprecord.DisconnectRecord{Reason: d.Reason, ReasonCode: uint32(d.Code)}}
	default:
		return nil, usperr.New(usperr.InvalidRecordValue, "cannot send a %s record", r.Kind)
	}
	b, err := proto.Marshal(out)
	if err != nil {
		return nil, usperr.New(usperr.InternalError, "encoding record: %v", err)
	}
	return b, nil
}

// Message decodes the Msg of a KindMsg Record.
func (r *Record) Message() (Message, error) {
	if r.Kind != KindMsg {
		return Message{}, usperr.New(usperr.InvalidRecordValue, "a %s record carries no msg", r.Kind)
	}
	return UnmarshalMsg(r.Payload)
}

// ParseRecord decodes and validates a serialized Record. Failures are
// *usperr.Error values with the Record error codes of R-MTP.5:
// RecordNotParsed (7100) for bytes that are not a Record, InvalidRecordValue
// (7104) for a missing version, to_id, from_id, record type or payload, or an
// unsupported version; SecureSessionNotSupported (7102) for TLS12 payload
// security and SessionContextNotAllowed (7106) for session context Records,
// which Cuttle does not use. On a validation failure the returned Record still
// holds the header, so the caller can decide whether and where to answer.
func ParseRecord(b []byte) (*Record, error) {
	var pr usprecord.Record
	if err := proto.Unmarshal(b, &pr); err != nil {
		return nil, usperr.New(usperr.RecordNotParsed, "record could not be parsed: %v", err)
	}
	r := &Record{RecordHeader: RecordHeader{Version: pr.GetVersion(), ToID: pr.GetToId(), FromID: pr.GetFromId()}}
	switch rt := pr.GetRecordType().(type) {
	case *usprecord.Record_NoSessionContext:
		r.Kind = KindMsg
		r.Payload = rt.NoSessionContext.GetPayload()
	case *usprecord.Record_SessionContext:
		r.Kind = KindSessionContext
	case *usprecord.Record_WebsocketConnect:
		r.Kind = KindWebSocketConnect
	case *usprecord.Record_MqttConnect:
		r.Kind = KindMQTTConnect
		r.MQTTConnect = &MQTTConnect{Version: rt.MqttConnect.GetVersion(), SubscribedTopic: rt.MqttConnect.GetSubscribedTopic()}
	case *usprecord.Record_StompConnect:
		r.Kind = KindSTOMPConnect
	case *usprecord.Record_Disconnect:
		r.Kind = KindDisconnect
		r.Disconnect = &Disconnect{Reason: rt.Disconnect.GetReason(), Code: usperr.Code(rt.Disconnect.GetReasonCode())}
	case *usprecord.Record_UdsConnect:
		r.Kind = KindUDSConnect
	}
	if err := r.validate(pr.GetPayloadSecurity()); err != nil {
		return r, err
	}
	return r, nil
}

func (r *Record) validate(sec usprecord.Record_PayloadSecurity) error {
	switch {
	case r.Version == "":
		return usperr.New(usperr.InvalidRecordValue, "record has no version")
	case !IsSupportedVersion(r.Version):
		return usperr.New(usperr.InvalidRecordValue, "record version %q is not supported (want one of %s)", r.Version, strings.Join(SupportedVersions, ", "))
	case r.ToID == "":
		return usperr.New(usperr.InvalidRecordValue, "record has no to_id")
	case r.FromID == "":
		return usperr.New(usperr.InvalidRecordValue, "record has no from_id")
	case r.Kind == KindNone:
		return usperr.New(usperr.InvalidRecordValue, "record has no record_type")
	case sec != usprecord.Record_PLAINTEXT:
		return usperr.New(usperr.SecureSessionNotSupported, "payload security %v is not supported", sec)
	case r.Kind == KindSessionContext:
		return usperr.New(usperr.SessionContextNotAllowed, "session context records are not supported")
	case r.Kind == KindMsg && len(r.Payload) == 0:
		return usperr.New(usperr.InvalidRecordValue, "no_session_context record has an empty payload")
	case r.Kind == KindMQTTConnect:
		if _, ok := usprecord.MQTTConnectRecord_MQTTVersion_name[int32(r.MQTTConnect.Version)]; !ok {
			return usperr.New(usperr.InvalidRecordValue, "mqtt_connect has unknown MQTT version %d", int32(r.MQTTConnect.Version))
		}
		if t := r.MQTTConnect.SubscribedTopic; t == "" || strings.ContainsAny(t, "+#") {
			return usperr.New(usperr.InvalidRecordValue, "mqtt_connect subscribed_topic %q must be a concrete topic", t)
		}
	}
	return nil
}
