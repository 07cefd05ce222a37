package agent

import (
	"slices"

	"cuttle/usp"
)

// rebootState is a reboot that Reboot(), FactoryReset() or a firmware
// activation asked for and the MTP layer has not carried out yet.
type rebootState struct {
	pending            bool
	cause, key, reason string
	factory            bool
	// image is the FirmwareImage to boot (Activate, AutoActivate); nil
	// boots DeviceInfo.BootFirmwareImage.
	image *node
	// activated asks for Activate()'s OperationComplete after the boot.
	activated bool
}

// Rebooting reports whether the device wants to reboot, and the Boot! Cause
// it will report. The MTP layer then disconnects (with a DisconnectRecord),
// waits, reconnects and calls Rebooted.
func (a *Agent) Rebooting() (pending bool, cause string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reboot.pending, a.reboot.cause
}

// Rebooted finishes a reboot: up-time starts again, non-persistent
// subscriptions and running asynchronous commands are gone (TR-369: they do
// not survive a reboot), the device runs the image it was told to boot, and
// Boot! goes to every Controller subscribed to it, followed by Activate()'s
// OperationComplete when an activation caused the reboot. A factory reset
// also returns the data model to its initial state (the firmware stays).
// Called without a pending reboot it reports a LocalReboot (a power cycle).
func (a *Agent) Rebooted() {
	a.locked(func() {
		now := a.clock.Now()
		if now.Before(a.now) {
			now = a.now
		}
		rs := a.reboot
		a.reboot = rebootState{}
		if !rs.pending {
			rs.cause = usp.CauseLocalReboot
		}
		a.now, a.booted, a.lastTick = now, now, now
		a.debug("rebooted", "cause", rs.cause, "factory_reset", rs.factory)
		a.ops = nil
		s := dm()
		la := a.root.child("LocalAgent")
		for _, r := range slices.Clone(la.rows(s.request)) {
			a.deleteRow(r, false)
		}
		if rs.factory {
			a.factoryReset()
		} else {
			for _, r := range slices.Clone(la.rows(s.subscription)) {
				if r.get("Persistent") != "true" {
					a.deleteRow(r, false)
				}
			}
		}
		a.subsDirty, a.periodicDirty = true, true
		// The clock starts again; nobody is told, Boot! says it all.
		up := uptime(a.booted, now)
		a.root.child("DeviceInfo").put("UpTime", up)
		la.put("UpTime", up)
		// Switch images first, so that Boot!'s ParameterMap shows the new
		// version, but let Boot! go before the ValueChanges that causes.
		mark := len(a.out)
		fwUpdated := a.bootImage(rs.image)
		changes := append([]outMsg(nil), a.out[mark:]...)
		a.out = a.out[:mark]
		// R-NOT.4: the retry count starts again after a reboot.
		for _, r := range a.retries {
			r.attempt = 0
			r.next = now.Add(a.retryWait(1, r.ctrl))
		}
		a.bootNotifies(rs.cause, rs.key, rs.reason, fwUpdated)
		a.out = append(a.out, changes...)
		if rs.activated && rs.image != nil && rs.image.attached(a.root) {
			a.notifyOperation(rs.image, "Activate()", rs.key, map[string]string{}, nil)
		}
	})
}

// BootNotifies sends Boot! (Cause, CommandKey, FirmwareUpdated, and a
// ParameterMap of that Controller's enabled BootParameters) to every
// Controller with an enabled subscription to Device.Boot!. The MTP layer
// calls it after the first connection; Rebooted calls it itself.
func (a *Agent) BootNotifies(cause, commandKey string, firmwareUpdated bool) {
	a.locked(func() { a.bootNotifies(cause, commandKey, "", firmwareUpdated) })
}

func (a *Agent) bootNotifies(cause, key, reason string, fwUpdated bool) {
	a.notifyEvent(a.root, "Boot!", nil, func(ctrl *node) map[string]string {
		return usp.Boot{CommandKey: key, Cause: cause, Reason: reason, FirmwareUpdated: fwUpdated,
			ParameterMap: a.bootParams(ctrl)}.Event().Params
	})
}

// bootParams returns the values a Controller's enabled BootParameters
// select; ParameterName may be a parameter path, an object path or a search
// path.
func (a *Agent) bootParams(ctrl *node) map[string]string {
	out := map[string]string{}
	for _, bp := range ctrl.rows(dm().bootPrm) {
		if bp.get("Enable") != "true" {
			continue
		}
		res := a.getPath(bp.get("ParameterName"), 0)
		for _, r := range res.Resolved {
			for k, v := range r.Params {
				out[r.Path+k] = v
			}
		}
	}
	return out
}

// bootImage makes the device run img, or else DeviceInfo.BootFirmwareImage,
// and reports whether the running version changed.
func (a *Agent) bootImage(img *node) bool {
	di := a.root.child("DeviceInfo")
	if img == nil || !img.attached(a.root) {
		img = a.nodeAt(di.get("BootFirmwareImage"))
	}
	active := a.nodeAt(di.get("ActiveFirmwareImage"))
	if img == nil || img == active || img.obj != dm().firmwareImage {
		return false
	}
	old := di.get("SoftwareVersion")
	if active != nil {
		a.setName(active, "Status", "Available")
	}
	a.setName(img, "Status", "Active")
	a.setName(img, "Available", "true")
	a.setName(di, "ActiveFirmwareImage", img.ref())
	a.setName(di, "BootFirmwareImage", img.ref())
	a.setName(di, "SoftwareVersion", img.get("Version"))
	return old != img.get("Version")
}

// factoryReset rebuilds the data model from the profile, keeping the
// Controllers the device was configured with and the firmware images.
func (a *Agent) factoryReset() {
	s := dm()
	old := a.root
	var ctrls []Controller
	for _, c := range old.child("LocalAgent").rows(s.controller) {
		topic := ""
		if mtps := c.rows(s.ctrlMTP); len(mtps) > 0 {
			topic = mtps[0].child("MQTT").get("Topic")
		}
		ctrls = append(ctrls, Controller{EndpointID: c.get("EndpointID"), Topic: topic})
	}
	a.root = a.build(ctrls)
	oldDI, newDI := old.child("DeviceInfo"), a.root.child("DeviceInfo")
	for _, name := range []string{"SoftwareVersion", "ActiveFirmwareImage", "BootFirmwareImage"} {
		newDI.put(name, oldDI.get(name))
	}
	newImgs := newDI.rows(s.firmwareImage)
	for i, img := range oldDI.rows(s.firmwareImage) {
		if i < len(newImgs) {
			copy(newImgs[i].vals, img.vals)
		}
	}
	a.retries = nil
	a.subs, a.subsDirty = nil, true
}
