package controller

import (
	"context"
	"strconv"
	"time"

	"cuttle/controller/events"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// lastSeenEvery limits how often ordinary traffic from a device is written
// to its inventory record as last_seen: a device sending a notification a
// second must not cost a KV write a second.
const lastSeenEvery = 30 * time.Second

// handle receives every Record from a device that is not the answer to a
// pending request. It runs on mqttmtp's workers, one device's Records in
// order, so it must not wait on the device: anything that asks the device
// something runs in the background.
func (c *Controller) handle(in mqttmtp.Incoming) {
	rec := in.Record
	eid := rec.FromID
	switch rec.Kind {
	case usp.KindMQTTConnect:
		// R-MTP.6: the agent announces itself and its reply-to topic.
		topic := rec.MQTTConnect.SubscribedTopic
		c.mtp.SetReplyTopic(eid, topic)
		c.metrics.records.WithLabelValues("mqtt_connect").Inc()
		// The agent says it has (re)connected: that starts an online spell
		// in the device's history, as its DisconnectRecord ends one. Only
		// the replica that receives the Record logs it, so replicas sharing
		// the inbox do not log it twice.
		c.publish(events.Event{EndpointID: eid, Type: events.TypeOnline, Time: in.Received,
			Data: map[string]string{"reply_topic": topic}})
		d, err := c.updateDevice(eid, func(d *inventory.Device) error {
			d.ReplyTopic = topic
			d.LastSeen = in.Received
			return nil
		})
		if err == nil && !d.Subscribed {
			c.settle(eid)
		}
	case usp.KindDisconnect:
		c.metrics.records.WithLabelValues("disconnect").Inc()
		c.publish(events.Event{EndpointID: eid, Type: events.TypeOffline, Time: in.Received,
			Data: map[string]string{"reason": rec.Disconnect.Reason, "reason_code": strconv.Itoa(int(rec.Disconnect.Code))}})
		_, _ = c.updateDevice(eid, func(d *inventory.Device) error {
			d.Status, d.StatusSince, d.LastSeen = inventory.StatusOffline, in.Received, in.Received
			return nil
		})
	case usp.KindMsg:
		if in.Msg == nil {
			return
		}
		n, ok := in.Msg.Body.(*usp.Notify)
		if !ok {
			// A late answer, or a request the controller does not serve.
			c.metrics.records.WithLabelValues("unexpected").Inc()
			if in.Msg.IsRequest() {
				c.replyError(in, usperr.New(usperr.MessageNotSupported, "the controller does not serve %v", in.Msg.Type()))
			}
			return
		}
		c.notify(in, n)
	}
}

// notify acknowledges a Notify first (an agent retries until it gets the
// NotifyResp), then logs it and updates the inventory.
func (c *Controller) notify(in mqttmtp.Incoming, n *usp.Notify) {
	eid := in.Record.FromID
	if n.SendResp {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
		if err := c.mtp.Reply(ctx, in, usp.NewNotifyResp(n.SubscriptionID)); err != nil {
			c.log.Warn("answering notify failed", "endpoint_id", eid, "error", err)
		}
		cancel()
	}
	e := events.Event{EndpointID: eid, Time: in.Received, SubscriptionID: n.SubscriptionID}
	// then updates the inventory after the event is logged, so whoever sees
	// the change there also finds its event.
	var then func()
	switch v := n.Notification.(type) {
	case *usp.Event:
		e.Type, e.Path, e.Data = events.TypeEvent, v.Path(), v.Params
		if v.IsBoot() {
			e.Type = events.TypeBoot
			then = func() { c.boot(eid, in.Received, v) }
		}
	case *usp.ValueChange:
		e.Type, e.Path, e.Data = events.TypeValueChange, v.Path, map[string]string{"value": v.Value}
		if v.Path == "Device.DeviceInfo.SoftwareVersion" {
			then = func() {
				_, _ = c.updateDevice(eid, func(d *inventory.Device) error {
					d.SoftwareVersion, d.LastSeen = v.Value, in.Received
					return nil
				})
			}
		}
	case *usp.ObjectCreation:
		e.Type, e.Path, e.Data = events.TypeObjectCreation, v.Path, v.UniqueKeys
	case *usp.ObjectDeletion:
		e.Type, e.Path = events.TypeObjectDeletion, v.Path
	case *usp.OperationComplete:
		e.Type, e.Path = events.TypeOperationComplete, v.ObjPath+v.Command
		e.Data = map[string]string{events.DataCommandKey: v.CommandKey}
		for k, val := range v.Output {
			e.Data[events.DataOutputPrefix+k] = val
		}
		if v.Err != nil {
			e.Data[events.DataErrCode] = strconv.Itoa(int(v.Err.Code))
			e.Data[events.DataErrMsg] = v.Err.Msg
		}
	case *usp.OnBoardRequest:
		e.Type = events.TypeOnBoard
		e.Data = map[string]string{"oui": v.OUI, "product_class": v.ProductClass, "serial_number": v.SerialNumber}
	}
	c.metrics.notifications.WithLabelValues(e.Type).Inc()
	c.rate.add(in.Received)
	c.publish(e)
	if then != nil {
		then()
	}
	c.touch(eid, in.Received)
}

// boot records a Boot! event: the device is online, its boot parameters are
// kept, and its DeviceInfo is fetched again (firmware may have changed).
func (c *Controller) boot(eid string, at time.Time, ev *usp.Event) {
	b, err := ev.Boot()
	if err != nil {
		c.log.Info("malformed Boot! event", "endpoint_id", eid, "error", err)
	}
	_, err = c.updateDevice(eid, func(d *inventory.Device) error {
		d.Boot = &inventory.Boot{Time: at, Cause: b.Cause, CommandKey: b.CommandKey, Reason: b.Reason,
			FirmwareUpdated: b.FirmwareUpdated, ParameterMap: b.ParameterMap}
		if d.Status != inventory.StatusOnline {
			d.Status, d.StatusSince = inventory.StatusOnline, at
		}
		d.LastSeen = at
		return nil
	})
	if err == nil {
		c.settle(eid)
	}
}

// touch updates last_seen at most every lastSeenEvery.
func (c *Controller) touch(eid string, at time.Time) {
	if d, ok := c.inv.Get(eid); ok && at.Sub(d.LastSeen) < lastSeenEvery {
		return
	}
	_, _ = c.updateDevice(eid, func(d *inventory.Device) error {
		d.LastSeen = at
		return nil
	})
}

// updateDevice writes to the inventory, logging failures (a NATS outage
// must not stop the controller from answering devices).
func (c *Controller) updateDevice(eid string, fn func(d *inventory.Device) error) (inventory.Device, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.inv.Update(ctx, eid, fn)
	if err != nil {
		c.metrics.inventoryErrors.Inc()
		c.log.Warn("updating device inventory failed", "endpoint_id", eid, "error", err)
	}
	return d, err
}

func (c *Controller) publish(e events.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.events.Publish(ctx, e); err != nil {
		c.metrics.eventErrors.Inc()
		c.log.Warn("writing event failed", "endpoint_id", e.EndpointID, "type", e.Type, "error", err)
	}
}

func (c *Controller) replyError(in mqttmtp.Incoming, err *usperr.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	_ = c.mtp.Reply(ctx, in, &usp.ErrorMsg{Err: err})
}
