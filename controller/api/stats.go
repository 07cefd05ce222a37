package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"cuttle/controller"
	"cuttle/devices/inventory"
)

// DefaultStatsInterval is how often the stats stream looks for changes.
const DefaultStatsInterval = 2 * time.Second

// statsResponse is the dashboard's numbers: the inventory's counts, and
// the controller's own activity.
type statsResponse struct {
	inventory.Stats
	// NotificationsPerMinute counts the Notify messages this controller
	// received in the last 60 seconds.
	NotificationsPerMinute uint64 `json:"notifications_per_minute"`
	// NotificationsByMinute counts them per minute, for the last 15
	// minutes, oldest first.
	NotificationsByMinute []controller.MinuteCount `json:"notifications_by_minute"`
	// BrokerConnections counts the clients of every role that the
	// broker(s) report online in the presence bucket.
	BrokerConnections int `json:"broker_connections"`
	// PendingRequests counts the USP requests awaiting a response.
	PendingRequests int `json:"pending_requests"`
}

// currentStats reads everything from memory: the inventory's index, the
// presence mirror, the controller's counters. No request costs a NATS
// round trip.
func (a *API) currentStats() statsResponse {
	s := statsResponse{Stats: a.inv.Stats(), BrokerConnections: a.inv.BrokerConnections(), PendingRequests: a.mtp.Pending()}
	s.NotificationsPerMinute, s.NotificationsByMinute = a.cfg.Controller.NotificationRate()
	return s
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, a.currentStats())
}

// streamStats sends the stats as Server-Sent Events ("event: stats", the
// same JSON as GET /api/v1/stats): at once, then whenever they change,
// looking every StatsInterval.
func (a *API) streamStats(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	s, done, err := a.openSSE(w, r, "stats")
	if err != nil {
		return err
	}
	defer done()
	var last []byte
	lastWrite := time.Now()
	check := time.NewTicker(a.cfg.StatsInterval)
	defer check.Stop()
	for {
		data, err := json.Marshal(a.currentStats())
		if err != nil {
			return fmt.Errorf("encoding stats: %w", err)
		}
		switch {
		case !bytes.Equal(data, last):
			if err := s.event("", "stats", data); err != nil {
				return err
			}
			last, lastWrite = data, time.Now()
		case time.Since(lastWrite) >= a.cfg.Heartbeat:
			if err := s.heartbeat(); err != nil {
				return err
			}
			lastWrite = time.Now()
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-check.C:
		}
	}
}
