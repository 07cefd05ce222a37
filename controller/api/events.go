package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"cuttle/controller/events"
)

// DefaultHeartbeat is how often an idle event stream gets a comment line,
// so that proxies keep it open and clients notice a dead connection.
const DefaultHeartbeat = 15 * time.Second

type eventsResponse struct {
	Events []events.Event `json:"events"`
}

// eventFilter reads the filters the query and the stream share.
func eventFilter(q url.Values) (events.Filter, error) {
	f := events.Filter{EndpointID: q.Get("device"), Types: listParam(q, "type")}
	for _, t := range f.Types {
		if err := events.ValidType(t); err != nil {
			return f, Invalid(FieldError{Field: "type", Message: fmt.Sprintf("%q is not an event type", t)})
		}
	}
	if len(f.Types) > events.MaxFilterTypes {
		return f, Invalid(FieldError{Field: "type", Message: fmt.Sprintf("at most %d types", events.MaxFilterTypes)})
	}
	return f, nil
}

func (a *API) queryEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, []string{"device", "type", "since", "after", "before", "limit", "order"}, "type")
	if err != nil {
		return err
	}
	f, err := eventFilter(q)
	if err != nil {
		return err
	}
	if f.Since, err = timeParam(q, "since", time.Now()); err != nil {
		return err
	}
	if f.AfterID, err = uintParam(q, "after"); err != nil {
		return err
	}
	if f.BeforeID, err = uintParam(q, "before"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q, "limit"); err != nil {
		return err
	}
	if f.Limit > events.MaxLimit {
		return Invalid(FieldError{Field: "limit", Message: fmt.Sprintf("at most %d", events.MaxLimit)})
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		f.Desc = true
	default:
		return Invalid(FieldError{Field: "order", Message: "must be asc or desc"})
	}
	list, err := a.events.Query(r.Context(), f)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, eventsResponse{Events: nonNilSlice(list)})
}

// streamEvents sends new events as Server-Sent Events: "id:" is the
// event's ID, "event:" its type, "data:" its JSON. A client resumes with
// the Last-Event-ID header (browsers send it when they reconnect) or the
// "after" parameter; "from=start" first replays every stored event. A comment line every Heartbeat keeps the connection
// alive. The stream ends when the client goes away; its feed's goroutine
// has ended when this returns.
func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, []string{"device", "type", "after", "from"}, "type")
	if err != nil {
		return err
	}
	f, err := eventFilter(q)
	if err != nil {
		return err
	}
	if f.AfterID, f.FromStart, err = streamStart(r, q); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	feed, err := a.events.Subscribe(ctx, f)
	if err != nil {
		cancel()
		return err
	}
	defer func() {
		cancel()
		for range feed { // wait for the feed's goroutine to close it
		}
	}()

	s, done, err := a.openSSE(w, r, "event")
	if err != nil {
		return err
	}
	defer done()
	return follow(ctx, s, a.cfg.Heartbeat, feed, nil, func(e events.Event) error {
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encoding event %d: %w", e.ID, err)
		}
		return s.event(strconv.FormatUint(e.ID, 10), e.Type, data)
	})
}

// clientGone reports a failed stream write as the client's leaving, which
// is how streams normally end.
func clientGone(err error) error {
	return fmt.Errorf("%w: writing the event stream: %v", context.Canceled, err)
}
