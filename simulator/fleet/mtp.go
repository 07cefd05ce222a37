package fleet

import (
	"context"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/usp"
	"cuttle/usp/usperr"
)

// Content types of USP Records on MQTT 5: the one sent (R-MQTT.27) and
// the ones accepted (R-MQTT.27a); a PUBLISH without one is accepted too.
const (
	contentType       = "usp.msg"
	legacyContentType = "application/vnd.bbf.usp.msg"
)

// Reasons a received Record is ignored, the label of the
// records_ignored metric.
const (
	ignoredContentType = iota
	ignoredUnparsable
	ignoredToID
	ignoredFromID
	ignoredBadRecord
	ignoredBadMsg
	ignoredKind
	numIgnored
)

var ignoredNames = [numIgnored]string{"content_type", "unparsable", "to_id", "unknown_from_id", "bad_record", "bad_msg", "record_type"}

// receive handles one PUBLISH from the device's inbox, on the connection's
// paho goroutine: filter the Record as a real agent does, let the agent
// handle the Msg, and answer on the request's Response Topic.
func (d *device) receive(s *session, p *paho.Publish) {
	<-s.ready
	if !s.up.Load() {
		return // the connection failed while being set up
	}
	f := d.f
	var respTopic string
	var corr []byte
	if p.Properties != nil {
		switch p.Properties.ContentType {
		case "", contentType, legacyContentType:
		default:
			f.stats.ignore(ignoredContentType)
			return
		}
		respTopic, corr = p.Properties.ResponseTopic, p.Properties.CorrelationData
	}
	rec, err := usp.ParseRecord(p.Payload)
	if rec == nil {
		f.stats.ignore(ignoredUnparsable) // no from_id to answer
		return
	}
	// R-E2E.1: not for us. Known Controllers only, as obuspa does
	// (Device.LocalAgent.Controller.{i}); this also drops Records from
	// the device's own endpoint ID (TP-469 2.1).
	if rec.ToID != d.cfg.EndpointID {
		f.stats.ignore(ignoredToID)
		return
	}
	ctrlTopic, known := f.ctrls[rec.FromID]
	if !known {
		f.stats.ignore(ignoredFromID)
		return
	}
	if respTopic == "" {
		respTopic = ctrlTopic
	}
	if err != nil {
		d.recordError(s, rec, err, respTopic, corr)
		return
	}
	if rec.Kind != usp.KindMsg {
		// mqtt_connect and disconnect Records from a Controller need no
		// answer: the device keeps no session context to drop.
		f.stats.ignore(ignoredKind)
		return
	}
	msg, err := rec.Message()
	if err != nil {
		// A Msg that does not decode: answer its msg_id, if it has one and
		// it is not a response, with the error (R-MSG.0).
		if msg.ID != "" && (msg.Body == nil || msg.IsRequest()) {
			d.reply(s, respTopic, rec.FromID, msg.ID, &usp.ErrorMsg{Err: usperr.As(err)}, corr)
		}
		f.stats.ignore(ignoredBadMsg)
		return
	}
	if msg.IsRequest() {
		f.stats.requests.Add(1)
	}
	d.busy.Lock()
	defer d.busy.Unlock()
	if reply := d.agent.Handle(rec.FromID, msg); reply != nil {
		d.reply(s, respTopic, rec.FromID, msg.ID, reply, corr)
	}
	if pending, _ := d.agent.Rebooting(); pending {
		d.startReboot()
	}
}

// recordError answers a bad Record (R-MTP.5): with an Error carrying the
// Record error code when it holds a Request whose msg_id can be read;
// otherwise it is ignored.
func (d *device) recordError(s *session, rec *usp.Record, err error, topic string, corr []byte) {
	d.f.stats.ignore(ignoredBadRecord)
	if rec.Kind != usp.KindMsg || len(rec.Payload) == 0 {
		return
	}
	m, merr := usp.UnmarshalMsg(rec.Payload)
	if merr != nil || m.ID == "" || m.Body == nil || !m.IsRequest() {
		return
	}
	d.reply(s, topic, rec.FromID, m.ID, &usp.ErrorMsg{Err: usperr.As(err)}, corr)
}

// reply sends a response or Error to a Controller's request on the
// request's Response Topic (R-MQTT.26), echoing its Correlation Data.
func (d *device) reply(s *session, topic, to, msgID string, body usp.Body, corr []byte) {
	rec, err := usp.NewMsgRecord(d.cfg.EndpointID, to, msgID, body)
	if err != nil {
		d.f.log.Error("encoding response", "endpoint_id", d.cfg.EndpointID, "type", body.MsgType(), "error", err)
		return
	}
	if d.publish(s, topic, rec, corr) {
		d.f.stats.responses.Add(1)
	}
}

// notify is the agent's outbox: it publishes a Notify to a Controller's
// topic, or drops it while the device is offline (the agent retries those
// that ask for a NotifyResp).
func (d *device) notify(to string, m usp.Message) {
	f := d.f
	topic, ok := f.ctrls[to]
	s := d.live()
	if !ok || s == nil {
		f.stats.notifyDropped.Add(1)
		return
	}
	rec, err := usp.NewMsgRecord(d.cfg.EndpointID, to, m.ID, m.Body)
	if err != nil {
		f.log.Error("encoding notification", "endpoint_id", d.cfg.EndpointID, "error", err)
		return
	}
	if d.publish(s, topic, rec, nil) {
		f.stats.notifies.Add(1)
	} else {
		f.stats.notifyDropped.Add(1)
	}
}

// publish sends a Record without waiting for the broker's PUBACK.
func (d *device) publish(s *session, topic string, rec *usp.Record, corr []byte) bool {
	f := d.f
	b, err := rec.Marshal()
	if err != nil {
		f.log.Error("encoding record", "endpoint_id", d.cfg.EndpointID, "error", err)
		return false
	}
	_, err = s.client.PublishWithOptions(context.Background(), f.publishPacket(s, topic, b, corr),
		paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	if err != nil {
		f.log.Debug("publish failed", "endpoint_id", d.cfg.EndpointID, "topic", topic, "error", err)
		return false
	}
	f.stats.records.Add(1)
	return true
}

// publishPacket builds the PUBLISH of a Record (R-MQTT.22/23/27): content
// type usp.msg and the device's inbox as Response Topic, never retained.
func (f *Fleet) publishPacket(s *session, topic string, payload, corr []byte) *paho.Publish {
	return &paho.Publish{
		Topic:   topic,
		QoS:     s.qos,
		Payload: payload,
		Properties: &paho.PublishProperties{
			ContentType:     contentType,
			ResponseTopic:   s.inbox,
			CorrelationData: corr,
		},
	}
}
