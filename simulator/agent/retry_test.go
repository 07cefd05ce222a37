package agent

import (
	"testing"
	"time"

	"cuttle/usp"
)

func TestRetryInterval(t *testing.T) {
	s := time.Second
	tests := []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, 5 * s, 10 * s}, {2, 10 * s, 20 * s}, {3, 20 * s, 40 * s}, {4, 40 * s, 80 * s},
		{5, 80 * s, 160 * s}, {9, 1280 * s, 2560 * s}, {10, 2560 * s, 5120 * s},
		{11, 2560 * s, 5120 * s}, {50, 2560 * s, 5120 * s}, // R-NOT.2: the tenth range from then on
	}
	for _, tt := range tests {
		if lo, hi := retryInterval(tt.n, 5, 2000); lo != tt.lo || hi != tt.hi {
			t.Errorf("retry %d: [%v, %v], want [%v, %v]", tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
	if lo, hi := retryInterval(2, 10, 1500); lo != 15*s || hi != 22500*time.Millisecond {
		t.Errorf("m=10 k=1500 retry 2: [%v, %v]", lo, hi)
	}
}

// TestNotifyRetry: a Notify with send_resp=true is resent, with the same
// msg_id, at the R-NOT.1 intervals until a NotifyResp for it arrives.
func TestNotifyRetry(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "vc", "ValueChange", "Device.Time.NTPServer3", opt("NotifRetry", "true"))
	h.set("Device.Time.", "NTPServer3", "a.example.net")
	first := h.take()
	if len(first) != 1 || !first[0].msg.Body.(*usp.Notify).SendResp {
		t.Fatalf("first %+v", first)
	}
	id := first[0].msg.ID
	if h.a.PendingNotifies() != 1 {
		t.Fatal("not waiting for a NotifyResp")
	}
	// Record when each retry goes, in 1 s steps.
	last := time.Duration(0)
	var now time.Duration
	for retry := 1; retry <= 4; retry++ {
		lo, hi := retryInterval(retry, 5, 2000)
		for {
			h.tick(time.Second)
			now += time.Second
			out := h.take()
			if len(out) == 0 {
				if now-last > hi {
					t.Fatalf("retry %d not sent within %v", retry, hi)
				}
				continue
			}
			if len(out) != 1 || out[0].msg.ID != id || out[0].to != ctrlA {
				t.Fatalf("retry %d: %+v", retry, out)
			}
			if gap := now - last; gap < lo || gap > hi+time.Second {
				t.Fatalf("retry %d after %v, want within [%v, %v]", retry, gap, lo, hi)
			}
			last = now
			break
		}
	}
	// The NotifyResp stops the retries; its subscription_id is ignored
	// (R-NOT.9).
	if reply := h.a.Handle(ctrlA, usp.Message{ID: id, Body: usp.NewNotifyResp("whatever")}); reply != nil {
		t.Fatalf("NotifyResp answered with %#v", reply)
	}
	if h.a.PendingNotifies() != 0 {
		t.Fatal("still pending after the NotifyResp")
	}
	h.tick(2 * time.Hour)
	if out := h.take(); len(out) != 0 {
		t.Fatalf("resent after the NotifyResp: %+v", out)
	}
}

// TestNotifyExpiration: NotifExpiration ends the retries; deleting the
// subscription does too.
func TestNotifyExpiration(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "vc", "ValueChange", "Device.Time.NTPServer3", opt("NotifRetry", "true"), opt("NotifExpiration", "30"))
	p := h.subscribe(ctrlA, "vc2", "ValueChange", "Device.Time.NTPServer4", opt("NotifRetry", "true"))
	h.set("Device.Time.", "NTPServer3", "a.example.net")
	h.set("Device.Time.", "NTPServer4", "b.example.net")
	if h.a.PendingNotifies() != 2 {
		t.Fatalf("%d pending", h.a.PendingNotifies())
	}
	h.do(ctrlA, usp.NewDelete(false, p))
	for i := 0; i < 30; i++ {
		h.tick(time.Second)
	}
	if n := h.a.PendingNotifies(); n != 0 {
		t.Fatalf("%d still pending", n)
	}
	h.take()
	h.tick(time.Hour)
	if out := h.take(); len(out) != 0 {
		t.Fatalf("resent after expiry: %+v", out)
	}
}

func TestSubscriptionTimeToLive(t *testing.T) {
	h := newHarness(t)
	h.subscribe(ctrlA, "ttl", "ValueChange", "Device.DeviceInfo.UpTime", opt("TimeToLive", "10"))
	h.subscribe(ctrlB, "watch", "ObjectDeletion", "Device.LocalAgent.Subscription.")
	h.tick(9 * time.Second)
	if v := h.value("Device.LocalAgent.SubscriptionNumberOfEntries"); v != "2" {
		t.Fatalf("expired early: %s", v)
	}
	h.take()
	h.tick(time.Second)
	var deleted bool
	for _, n := range h.notifies() {
		if od, ok := n.Notification.(*usp.ObjectDeletion); ok && od.Path == "Device.LocalAgent.Subscription.1." {
			deleted = true
		}
	}
	if !deleted || h.value("Device.LocalAgent.SubscriptionNumberOfEntries") != "1" {
		t.Fatal("the subscription outlived its TimeToLive")
	}
}
