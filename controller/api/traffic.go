package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"cuttle/controller/traffic"
)

// Limits of GET /api/v1/traffic.
const (
	DefaultTrafficLimit = 100
	MaxTrafficLimit     = 1000
)

type trafficResponse struct {
	// Messages are traffic.Message JSON, oldest first.
	Messages []json.RawMessage `json:"messages"`
}

// trafficOff is the answer when the controller runs without the
// inspector.
func trafficOff() error {
	return NotFound("The traffic inspector is off: the controller runs with a traffic ring of 0 messages.")
}

func (a *API) queryTraffic(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, []string{"endpoint_id", "after", "limit"})
	if err != nil {
		return err
	}
	f := traffic.Filter{EndpointID: q.Get("endpoint_id")}
	if f.After, err = uintParam(q, "after"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q, "limit"); err != nil {
		return err
	}
	switch {
	case f.Limit > MaxTrafficLimit:
		return Invalid(FieldError{Field: "limit", Message: fmt.Sprintf("at most %d", MaxTrafficLimit)})
	case f.Limit == 0:
		f.Limit = DefaultTrafficLimit
	}
	rec := a.cfg.Controller.Traffic()
	if rec == nil {
		return trafficOff()
	}
	out := trafficResponse{Messages: []json.RawMessage{}}
	for _, e := range rec.Query(f) {
		out.Messages = append(out.Messages, e.JSON())
	}
	return WriteJSON(w, http.StatusOK, out)
}

// streamTraffic sends recorded USP messages as Server-Sent Events as they
// happen: "id:" is the message's ID, "event:" is "usp", "data:" the
// traffic.Message JSON. A client that falls behind loses messages, and
// gets an "event: lost" with their count; the controller never waits for
// it. Last-Event-ID or "after" (or "from=start") first replays what the
// ring still holds.
func (a *API) streamTraffic(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, []string{"endpoint_id", "after", "from"})
	if err != nil {
		return err
	}
	f := traffic.Filter{EndpointID: q.Get("endpoint_id")}
	var fromStart bool
	if f.After, fromStart, err = streamStart(r, q); err != nil {
		return err
	}
	rec := a.cfg.Controller.Traffic()
	if rec == nil {
		return trafficOff()
	}
	sub, past := rec.Subscribe(f, fromStart || f.After > 0)
	defer sub.Close()

	s, done, err := a.openSSE(w, r, "traffic")
	if err != nil {
		return err
	}
	defer done()
	send := func(e *traffic.Entry) error {
		return s.event(strconv.FormatUint(e.ID(), 10), "usp", e.JSON())
	}
	for _, e := range past {
		if err := send(e); err != nil {
			return err
		}
	}
	reportLost := func() error {
		if n := sub.Lost(); n > 0 {
			return s.event("", "lost", fmt.Appendf(nil, `{"count":%d}`, n))
		}
		return nil
	}
	return follow(r.Context(), s, a.cfg.Heartbeat, sub.C(), reportLost, send)
}
