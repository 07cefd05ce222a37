package agent

import (
	"strconv"
	"time"

	"cuttle/devices/tr181"
	"cuttle/usp"
)

// maxStep bounds how much simulated time one Tick moves traffic and hosts
// by, so that a stalled process does not produce absurd jumps.
const maxStep = time.Hour

// Tick advances the device's simulated time to now: up-time and local time,
// Wi-Fi traffic counters and signal strengths drift, hosts and Wi-Fi
// clients join and leave, asynchronous commands finish, subscriptions whose
// TimeToLive ended are deleted, Periodic! fires per Controller, and
// unacknowledged notifications are retried. Every change that subscribers
// asked about is notified through the outbox. Calling it about once a second
// keeps every notification within R-NOT.0a's 10 seconds.
func (a *Agent) Tick(now time.Time) {
	a.locked(func() {
		a.refresh(now)
		now = a.now
		if dt := now.Sub(a.lastTick); dt > 0 {
			a.lastTick = now
			dt = min(dt, maxStep)
			a.traffic(dt)
			a.churn(dt)
		}
		a.runOps(now)
		a.expireSubscriptions(now)
		a.periodicNotifies(now)
		a.runRetries(now)
	})
}

// traffic grows the counters of every SSID that is up, around the device's
// own rate, and lets signal strengths wander.
func (a *Agent) traffic(dt time.Duration) {
	s := dm()
	secs := dt.Seconds()
	wifi := a.root.child("WiFi")
	for _, ssid := range wifi.rows(s.ssid) {
		if ssid.get("Status") != "Up" {
			continue
		}
		st := ssid.kids[s.ssidStats.ChildIndex].rows[0]
		rate := float64(a.dev.BytesPerSecond)
		sent := uint64(rate * secs * (0.5 + a.rnd.Float64()))
		recv := uint64(3 * rate * secs * (0.5 + a.rnd.Float64())) // downloads dominate
		a.addCounter(st, s.stats.bytesSent, sent)
		a.addCounter(st, s.stats.bytesRecv, recv)
		pktSent, pktRecv := sent/900+1, recv/1200+1
		a.addCounter(st, s.stats.pktSent, pktSent)
		a.addCounter(st, s.stats.pktRecv, pktRecv)
		a.addCounter(st, s.stats.errSent, a.errors(pktSent))
		a.addCounter(st, s.stats.errRecv, a.errors(pktRecv))
	}
	for _, ap := range wifi.rows(s.ap) {
		for _, ad := range ap.rows(s.assoc) {
			if a.rnd.IntN(5) != 0 {
				continue
			}
			v, _ := strconv.Atoi(ad.get("SignalStrength"))
			v = min(-30, max(-90, v+a.rnd.IntN(5)-2))
			a.setName(ad, "SignalStrength", strconv.Itoa(v))
		}
	}
}

// errors draws how many of pkts packets fail.
func (a *Agent) errors(pkts uint64) uint64 {
	expect := float64(pkts) * float64(a.prof.Traffic.ErrorsPerMillion) / 1e6
	n := uint64(expect)
	if a.rnd.Float64() < expect-float64(n) {
		n++
	}
	return n
}

// addCounter adds delta to a counter, wrapping unsignedInt counters at
// 2^32 as real ones do.
func (a *Agent) addCounter(n *node, p *tr181.Param, delta uint64) {
	if delta == 0 {
		return
	}
	v, _ := strconv.ParseUint(n.vals[p.Index], 10, 64)
	v += delta
	if p.Type == usp.TypeUnsignedInt {
		v &= 0xFFFFFFFF
	}
	a.set(n, p, strconv.FormatUint(v, 10))
}

// periodic is when a Controller's next Periodic! is due.
type periodic struct {
	ctrl *node
	next time.Time
}

// periodicNotifies sends Device.LocalAgent.Periodic! to each Controller
// whose PeriodicNotifInterval has come round (fire times are
// PeriodicNotifTime + k·interval; with an Unknown PeriodicNotifTime the
// agent counts from its boot), to its subscriptions only.
func (a *Agent) periodicNotifies(now time.Time) {
	if a.periodicDirty {
		a.periodicDirty = false
		a.periodic = a.periodic[:0]
		for _, c := range a.root.child("LocalAgent").rows(dm().controller) {
			if c.get("Enable") == "true" {
				a.periodic = append(a.periodic, periodic{ctrl: c, next: a.nextPeriodic(c, now)})
			}
		}
	}
	for i := range a.periodic {
		p := &a.periodic[i]
		if now.Before(p.next) {
			continue
		}
		a.notifyEvent(a.root.child("LocalAgent"), "Periodic!", p.ctrl, func(*node) map[string]string { return nil })
		p.next = a.nextPeriodic(p.ctrl, now)
	}
}

// nextPeriodic returns the first fire time of c's series after now.
func (a *Agent) nextPeriodic(c *node, now time.Time) time.Time {
	secs, err := strconv.ParseUint(c.get("PeriodicNotifInterval"), 10, 32)
	if err != nil || secs == 0 {
		secs = 86400
	}
	interval := time.Duration(secs) * time.Second
	phase, err := time.Parse(time.RFC3339, c.get("PeriodicNotifTime"))
	if err != nil || c.get("PeriodicNotifTime") == tr181.UnknownTime {
		phase = a.booted
	}
	r := now.Sub(phase) % interval
	if r < 0 {
		r += interval
	}
	return now.Add(interval - r)
}
