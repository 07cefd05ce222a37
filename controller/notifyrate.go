package controller

import (
	"sync"
	"time"
)

// NotifyMinutes is how many minutes of notification counts the controller
// keeps for NotificationRate.
const NotifyMinutes = 15

// MinuteCount is the number of notifications received in one minute.
type MinuteCount struct {
	// Minute is the minute's start, UTC.
	Minute time.Time `json:"minute"`
	Count  uint64    `json:"count"`
}

// notifyRate counts Notify messages per second for the last minute and per
// minute for the last NotifyMinutes, in fixed rings: counting is a lock
// and two increments, whatever the rate.
type notifyRate struct {
	mu      sync.Mutex // guards seconds and minutes
	seconds [60]slot
	minutes [NotifyMinutes]slot
}

// slot counts what happened in one second or minute, identified by its
// Unix time (in seconds or minutes); a slot holding an older time is stale.
type slot struct {
	at int64
	n  uint64
}

func (r *notifyRate) add(now time.Time) {
	sec, min := now.Unix(), now.Unix()/60
	r.mu.Lock()
	bump(&r.seconds[sec%int64(len(r.seconds))], sec)
	bump(&r.minutes[min%int64(len(r.minutes))], min)
	r.mu.Unlock()
}

func bump(s *slot, at int64) {
	if s.at != at {
		*s = slot{at: at}
	}
	s.n++
}

// rate returns the notifications of the last 60 seconds (this one
// included) and the counts of the last NotifyMinutes minutes, oldest
// first, the current minute last.
func (r *notifyRate) rate(now time.Time) (lastMinute uint64, byMinute []MinuteCount) {
	sec, min := now.Unix(), now.Unix()/60
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.seconds {
		if s.at > sec-60 && s.at <= sec {
			lastMinute += s.n
		}
	}
	byMinute = make([]MinuteCount, 0, len(r.minutes))
	for m := min - int64(len(r.minutes)) + 1; m <= min; m++ {
		c := MinuteCount{Minute: time.Unix(m*60, 0).UTC()}
		if s := r.minutes[m%int64(len(r.minutes))]; s.at == m {
			c.Count = s.n
		}
		byMinute = append(byMinute, c)
	}
	return lastMinute, byMinute
}

// NotificationRate returns how many Notify messages the controller
// received in the last 60 seconds, and per minute for the last
// NotifyMinutes minutes, oldest first.
func (c *Controller) NotificationRate() (lastMinute uint64, byMinute []MinuteCount) {
	return c.rate.rate(time.Now())
}
