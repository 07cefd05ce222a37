package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"cuttle/devices/inventory"
	"cuttle/usp"
)

// settle brings a device up to date after it connects or boots: it reads
// Device.DeviceInfo. into the inventory and, the first time, creates the
// configured subscriptions. Failures are logged; the next connect or boot
// tries again. It runs in the background, never on the receive path.
func (c *Controller) settle(eid string) {
	c.background(eid, func(ctx context.Context) { c.settleDevice(ctx, eid) })
}

func (c *Controller) settleDevice(ctx context.Context, eid string) {
	// A device that has just connected may be busy, or a request may be
	// lost with a reconnect: try a few times before waiting for its next
	// connect or boot.
	retry(ctx, func() error {
		err := c.fetchDeviceInfo(ctx, eid)
		if err != nil {
			c.log.Info("reading DeviceInfo failed", "endpoint_id", eid, "error", err)
		}
		return err
	})
	d, ok := c.inv.Get(eid)
	if !ok || d.Subscribed || len(c.cfg.Subscriptions) == 0 {
		return
	}
	retry(ctx, func() error {
		err := c.ensureSubscriptions(ctx, eid)
		if err != nil {
			c.metrics.subscriptionErrors.Inc()
			c.log.Info("creating default subscriptions failed", "endpoint_id", eid, "error", err)
			return err
		}
		_, err = c.updateDevice(eid, func(d *inventory.Device) error {
			d.Subscribed = true
			return nil
		})
		return err
	})
}

// settleAttempts and settleBackoff bound retry.
const (
	settleAttempts = 3
	settleBackoff  = 2 * time.Second
)

// retry runs f until it succeeds, settleAttempts times at most, waiting
// settleBackoff, then twice that, between attempts.
func retry(ctx context.Context, f func() error) {
	wait := settleBackoff
	for i := range settleAttempts {
		if f() == nil {
			return
		}
		if i == settleAttempts-1 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
			wait *= 2
		}
	}
}

// deviceInfoParams maps Device.DeviceInfo. parameters to inventory fields.
var deviceInfoParams = map[string]func(d *inventory.Device) *string{
	"Manufacturer":    func(d *inventory.Device) *string { return &d.Manufacturer },
	"ManufacturerOUI": func(d *inventory.Device) *string { return &d.ManufacturerOUI },
	"ModelName":       func(d *inventory.Device) *string { return &d.Model },
	"ProductClass":    func(d *inventory.Device) *string { return &d.ProductClass },
	"SerialNumber":    func(d *inventory.Device) *string { return &d.SerialNumber },
	"SoftwareVersion": func(d *inventory.Device) *string { return &d.SoftwareVersion },
	"HardwareVersion": func(d *inventory.Device) *string { return &d.HardwareVersion },
}

func (c *Controller) fetchDeviceInfo(ctx context.Context, eid string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.mtp.Get(ctx, eid, usp.NewGet(1, "Device.DeviceInfo."))
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	values := resp.Values()
	_, err = c.updateDevice(eid, func(d *inventory.Device) error {
		for name, field := range deviceInfoParams {
			if v, ok := values["Device.DeviceInfo."+name]; ok {
				*field(d) = v
			}
		}
		return nil
	})
	return err
}

// ensureSubscriptions creates the configured subscriptions the device does
// not have yet (matched by ID), enabled and persistent, in one Add with
// allow_partial so one refusal does not block the others.
func (c *Controller) ensureSubscriptions(ctx context.Context, eid string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.mtp.Get(ctx, eid, usp.NewGet(0, "Device.LocalAgent.Subscription."))
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range resp.Results {
		for _, res := range r.Resolved {
			if id, ok := res.Params["ID"]; ok {
				have[id] = true
			}
		}
	}
	var objs []usp.AddObject
	for _, s := range c.cfg.Subscriptions {
		if have[s.ID] {
			continue
		}
		objs = append(objs, usp.AddObject{Path: "Device.LocalAgent.Subscription.", Params: []usp.Param{
			{Name: "Enable", Value: "true", Required: true},
			{Name: "ID", Value: s.ID, Required: true},
			{Name: "NotifType", Value: s.NotifType, Required: true},
			{Name: "ReferenceList", Value: s.ReferenceList, Required: true},
			{Name: "Persistent", Value: "true"},
		}})
	}
	if len(objs) == 0 {
		return nil
	}
	added, err := c.mtp.Add(ctx, eid, usp.NewAdd(true, objs...))
	if err != nil {
		return err
	}
	var failed []string
	for i, r := range added.Results {
		if r.Err != nil && i < len(objs) {
			failed = append(failed, fmt.Sprintf("%s: %v", objs[i].Params[1].Value, r.Err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("subscriptions refused: %s", strings.Join(failed, "; "))
	}
	return nil
}
