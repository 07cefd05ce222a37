package agent

import (
	"math"
	"slices"
	"strconv"
	"time"

	"cuttle/usp"
)

// retry is a Notify sent with send_resp=true that no NotifyResp has
// acknowledged yet.
type retry struct {
	to  string
	msg usp.Message
	// sub is the Subscription row; retries stop when it is deleted.
	sub *node
	// ctrl is the recipient's Controller row, whose
	// USPNotifRetryMinimumWaitInterval and USPNotifRetryIntervalMultiplier
	// shape the waits.
	ctrl *node
	// attempt counts the retransmissions so far.
	attempt int
	next    time.Time
	// expires is when NotifExpiration ends the retries; zero: never.
	expires time.Time
}

// retryInterval returns the range from which the wait before retry number
// n (1-based) is drawn, for minimum wait m seconds and multiplier k
// (thousandths): [m·(k/1000)^(n-1), m·(k/1000)^n], the tenth range being
// used for every later retry (R-NOT.1, R-NOT.2).
func retryInterval(n int, m, k uint64) (lo, hi time.Duration) {
	n = min(max(n, 1), 10)
	f := float64(k) / 1000
	sec := float64(time.Second)
	lo = time.Duration(float64(m) * math.Pow(f, float64(n-1)) * sec)
	hi = time.Duration(float64(m) * math.Pow(f, float64(n)) * sec)
	return lo, hi
}

// retryWait draws the wait before retry n to ctrl.
func (a *Agent) retryWait(n int, ctrl *node) time.Duration {
	var m, k uint64 = 5, 2000 // the factory defaults R-NOT.1 requires
	if ctrl != nil {
		if v, err := strconv.ParseUint(ctrl.get("USPNotifRetryMinimumWaitInterval"), 10, 32); err == nil && v > 0 {
			m = v
		}
		if v, err := strconv.ParseUint(ctrl.get("USPNotifRetryIntervalMultiplier"), 10, 32); err == nil && v >= 1000 {
			k = v
		}
	}
	lo, hi := retryInterval(n, m, k)
	return lo + time.Duration(a.rnd.Int64N(int64(hi-lo)+1))
}

// acknowledged ends the retries of the Notify with msg_id id. The echoed
// subscription_id is ignored (R-NOT.9).
func (a *Agent) acknowledged(id string) {
	a.retries = slices.DeleteFunc(a.retries, func(r *retry) bool { return r.msg.ID == id })
}

// runRetries resends the unacknowledged notifications that are due and
// forgets those whose NotifExpiration passed or whose subscription is gone.
func (a *Agent) runRetries(now time.Time) {
	a.retries = slices.DeleteFunc(a.retries, func(r *retry) bool {
		if !r.expires.IsZero() && !now.Before(r.expires) {
			a.debug("notification expired unacknowledged", "msg_id", r.msg.ID, "to", r.to, "retries", r.attempt)
			return true
		}
		if !r.sub.attached(a.root) {
			return true
		}
		if now.Before(r.next) {
			return false
		}
		r.attempt++
		a.out = append(a.out, outMsg{to: r.to, msg: r.msg})
		r.next = now.Add(a.retryWait(r.attempt+1, r.ctrl))
		return false
	})
}

// PendingNotifies returns how many notifications await a NotifyResp.
func (a *Agent) PendingNotifies() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.retries)
}
