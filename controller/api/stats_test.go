package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"cuttle/controller/auth"
	"cuttle/internal/testutil"
	"cuttle/usp"
)

// statsBody is the JSON of GET /api/v1/stats.
type statsBody struct {
	Total                  int `json:"total"`
	Online                 int `json:"online"`
	NotificationsPerMinute int `json:"notifications_per_minute"`
	NotificationsByMinute  []struct {
		Minute time.Time `json:"minute"`
		Count  int       `json:"count"`
	} `json:"notifications_by_minute"`
	BrokerConnections int `json:"broker_connections"`
	PendingRequests   int `json:"pending_requests"`
}

func (s statsBody) notificationsLogged() int {
	n := 0
	for _, m := range s.NotificationsByMinute {
		n += m.Count
	}
	return n
}

func (e *env) stats(t *testing.T) statsBody {
	t.Helper()
	var s statsBody
	e.call(request{method: "GET", path: "/api/v1/stats", token: e.tokens[auth.RoleViewer]}, http.StatusOK, &s)
	return s
}

func TestStats(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2}, statsInterval: 50 * time.Millisecond})

	t.Run("counts", func(t *testing.T) {
		// Two devices and the controller are connected. A reboot makes
		// sure of one notification (Boot!), whatever came before.
		testutil.Eventually(t, 10*time.Second, "3 broker connections", func() bool { return e.stats(t).BrokerConnections == 3 })
		before := e.stats(t)
		e.reboot(t, dev1, 0)
		// The controller counts the Boot! and only then reads the device's
		// DeviceInfo again, so a request of its own may still be pending.
		var after statsBody
		testutil.Eventually(t, 10*time.Second, "the Boot! counted and the controller's read after it answered", func() bool {
			after = e.stats(t)
			return after.notificationsLogged() > before.notificationsLogged() && after.PendingRequests == 0
		})
		if after.Total != 2 || after.Online != 2 || after.PendingRequests != 0 || len(after.NotificationsByMinute) != 15 ||
			after.NotificationsPerMinute < 1 || after.NotificationsPerMinute > after.notificationsLogged() {
			t.Errorf("stats %+v", after)
		}
		by := after.NotificationsByMinute
		if last := by[len(by)-1].Minute; time.Since(last) > 2*time.Minute || time.Since(last) < 0 || last.Second() != 0 {
			t.Errorf("the last minute is %s", last)
		}
	})

	t.Run("pending requests", func(t *testing.T) {
		// A request to an endpoint nobody answers stays pending until its
		// timeout.
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = e.ctl.MTP().Do(ctx, "os::012345-nobody", usp.NewGet(0, "Device."))
		}()
		testutil.Eventually(t, 10*time.Second, "a pending request", func() bool { return e.stats(t).PendingRequests == 1 })
		cancel()
		<-done
		testutil.Eventually(t, 10*time.Second, "no pending request", func() bool { return e.stats(t).PendingRequests == 0 })
	})

	t.Run("stream", func(t *testing.T) {
		s := e.openStream(t, "/api/v1/stats/stream", e.tokens[auth.RoleViewer], nil)
		if s.status != http.StatusOK || s.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, Content-Type %q", s.status, s.header.Get("Content-Type"))
		}
		first := nextStats(t, s)
		if first.BrokerConnections != 3 || first.Total != 2 {
			t.Errorf("first stats %+v", first)
		}
		// dev2 leaves: the broker's presence record reaches the stream.
		d := e.devices[dev2]
		d.goneOnce.Do(func() {})
		_ = d.cli.Disconnect(&paho.Disconnect{})
		deadline := time.Now().Add(15 * time.Second)
		for {
			st := nextStats(t, s)
			if st.BrokerConnections == 2 && st.Online == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stats %+v 15 s after dev2 left", st)
			}
		}
	})
}

func nextStats(t *testing.T, s *sseStream) statsBody {
	t.Helper()
	m := s.next(t, 15*time.Second)
	if m.event != "stats" || m.id != "" {
		t.Fatalf("event %q id %q, want stats without id", m.event, m.id)
	}
	var st statsBody
	if err := json.Unmarshal([]byte(m.data), &st); err != nil {
		t.Fatalf("data %s: %v", m.data, err)
	}
	return st
}
