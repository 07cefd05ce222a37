package traffic

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"cuttle/proto/uspmsg"
	"cuttle/proto/usprecord"
)

// Message is a recorded message, decoded: the JSON form the API serves.
type Message struct {
	ID         uint64     `json:"id"`
	Time       time.Time  `json:"time"`
	Direction  Direction  `json:"direction"`
	EndpointID string     `json:"endpoint_id"`
	Topic      string     `json:"topic"`
	QoS        byte       `json:"qos"`
	Retain     bool       `json:"retain"`
	Properties Properties `json:"properties"`
	// Size is the payload's length in bytes.
	Size int `json:"size"`
	// Record is the Record's header fields in the protobuf JSON mapping
	// (proto field names), its payload left out; null when the payload is
	// not a Record.
	Record json.RawMessage `json:"record"`
	// Msg is the Msg of a no_session_context Record in the protobuf JSON
	// mapping; null for other Records and when it could not be decoded.
	Msg json.RawMessage `json:"msg"`
	// MsgType is the Msg header's msg_type ("GET", "NOTIFY_RESP"); "" when
	// there is no Msg.
	MsgType string `json:"msg_type"`
	MsgID   string `json:"msg_id"`
	// RecordType is the Record's record_type ("no_session_context",
	// "mqtt_connect", "disconnect"); "" when there is none.
	RecordType string `json:"record_type"`
	// Error says why the Record or its Msg could not be decoded.
	Error string `json:"error"`
	// PublishError says why an outgoing message was not sent (see
	// Capture.PublishError); absent when it was.
	PublishError string `json:"publish_error,omitempty"`
}

// Properties are the MQTT 5 properties of a PUBLISH.
type Properties struct {
	ResponseTopic string `json:"response_topic,omitempty"`
	// CorrelationData is the raw bytes when they are UTF-8, else their
	// base64 encoding, and then CorrelationDataBase64 is set.
	CorrelationData       string         `json:"correlation_data,omitempty"`
	CorrelationDataBase64 bool           `json:"correlation_data_base64,omitempty"`
	ContentType           string         `json:"content_type,omitempty"`
	UserProperties        []UserProperty `json:"user_properties"`
}

var (
	recordJSON = protojson.MarshalOptions{UseProtoNames: true}
	msgJSON    = protojson.MarshalOptions{UseProtoNames: true}
)

// decode turns a capture into its Message. Nothing in the payload can make
// it fail: what does not decode is reported in Error.
func decode(id uint64, c Capture) Message {
	m := Message{
		ID: id, Time: c.Time, Direction: c.Direction, EndpointID: c.EndpointID,
		Topic: c.Topic, QoS: c.QoS, Retain: c.Retain, Size: len(c.Payload), PublishError: c.PublishError,
		Properties: Properties{ResponseTopic: c.ResponseTopic, ContentType: c.ContentType, UserProperties: c.UserProperties},
	}
	if m.Properties.UserProperties == nil {
		m.Properties.UserProperties = []UserProperty{}
	}
	if len(c.CorrelationData) > 0 {
		if utf8.Valid(c.CorrelationData) {
			m.Properties.CorrelationData = string(c.CorrelationData)
		} else {
			m.Properties.CorrelationData = base64.StdEncoding.EncodeToString(c.CorrelationData)
			m.Properties.CorrelationDataBase64 = true
		}
	}

	var rec usprecord.Record
	if err := proto.Unmarshal(c.Payload, &rec); err != nil {
		m.Error = fmt.Sprintf("the payload is not a USP Record: %v", err)
		return m
	}
	var payload []byte
	switch rt := rec.GetRecordType().(type) {
	case *usprecord.Record_NoSessionContext:
		m.RecordType = "no_session_context"
		payload = rt.NoSessionContext.GetPayload()
		rt.NoSessionContext.Payload = nil
	case *usprecord.Record_SessionContext:
		m.RecordType = "session_context"
		if rt.SessionContext != nil {
			rt.SessionContext.Payload = nil
		}
	default:
		if od := rec.ProtoReflect().WhichOneof(rec.ProtoReflect().Descriptor().Oneofs().ByName("record_type")); od != nil {
			m.RecordType = string(od.Name())
		}
	}
	m.Record = marshalRecord(&rec, m.RecordType)
	if m.RecordType != "no_session_context" {
		return m
	}
	var msg uspmsg.Msg
	if err := proto.Unmarshal(payload, &msg); err != nil {
		m.Error = fmt.Sprintf("the Record's payload is not a USP Msg: %v", err)
		return m
	}
	m.MsgID = msg.GetHeader().GetMsgId()
	if msg.GetHeader() != nil {
		m.MsgType = msg.GetHeader().GetMsgType().String()
	}
	b, err := msgJSON.Marshal(&msg)
	if err != nil {
		m.Error = fmt.Sprintf("encoding the Msg as JSON: %v", err)
		return m
	}
	m.Msg = b
	return m
}

// recordHeader is the JSON of a Record's own fields, named and encoded as
// the protobuf JSON mapping does (bytes in base64), payload_security
// included even when it has its default.
type recordHeader struct {
	Version         string `json:"version"`
	ToID            string `json:"to_id"`
	FromID          string `json:"from_id"`
	PayloadSecurity string `json:"payload_security"`
	MACSignature    []byte `json:"mac_signature,omitempty"`
	SenderCert      []byte `json:"sender_cert,omitempty"`
}

// marshalRecord writes the Record's header fields and its record type's
// message (whose payload decode has cleared) as JSON. Encoding the header
// by hand rather than through protojson halves the cost of a decode.
func marshalRecord(rec *usprecord.Record, recordType string) json.RawMessage {
	b, err := json.Marshal(recordHeader{
		Version: rec.GetVersion(), ToID: rec.GetToId(), FromID: rec.GetFromId(),
		PayloadSecurity: rec.GetPayloadSecurity().String(), MACSignature: rec.GetMacSignature(), SenderCert: rec.GetSenderCert(),
	})
	if err != nil || recordType == "" {
		return b
	}
	sub := []byte("{}") // a no_session_context without its payload
	if recordType != "no_session_context" {
		r := rec.ProtoReflect()
		fd := r.Descriptor().Fields().ByName(protoreflect.Name(recordType))
		if fd == nil || fd.Message() == nil {
			return b
		}
		if sub, err = recordJSON.Marshal(r.Get(fd).Message().Interface()); err != nil {
			return b
		}
	}
	typ, _ := json.Marshal(recordType)
	out := append(b[:len(b)-1:len(b)-1], ',')
	out = append(out, typ...)
	out = append(out, ':')
	out = append(out, sub...)
	return append(out, '}')
}
