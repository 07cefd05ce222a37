// Package traffic is the controller's traffic inspector: it keeps the
// most recent USP Records the controller sent and received over MQTT, in
// both directions, in a bounded in-memory ring, and hands them to live
// subscribers (the API's /api/v1/traffic routes), so that an engineer can
// see what is on the wire: the topic, the MQTT 5 properties and the
// decoded Record and Msg.
//
// Recording is on the MQTT client's hot path, so Record only stores what
// it is given and wakes subscribers without waiting for them: a
// subscriber that does not keep up loses messages and is told how many.
// Decoding waits until someone looks, and happens once per message
// however many look. A nil *Recorder records nothing, which is how the
// inspector is turned off.
//
// The decoded form is the protobuf JSON mapping of the Record header and
// of the Msg (package usp's Go types hide the wire form, which is what an
// inspector has to show).
package traffic

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSize is how many messages a Recorder keeps by default.
const DefaultSize = 2000

// DefaultSubscriberBuffer is how many messages a subscriber may fall
// behind before it loses some.
const DefaultSubscriberBuffer = 256

// Direction says who sent a message.
type Direction string

// The directions.
const (
	// Out is from the controller to a device.
	Out Direction = "out"
	// In is from a device to the controller.
	In Direction = "in"
)

// Capture is one MQTT PUBLISH carrying a USP Record, as it went over the
// wire. Record keeps it as it is: the slices must not be modified
// afterwards.
type Capture struct {
	Time      time.Time
	Direction Direction
	// EndpointID is the device: the Record's to_id for Out, its from_id
	// for In; "" when the Record could not be read.
	EndpointID      string
	Topic           string
	QoS             byte
	Retain          bool
	ResponseTopic   string
	CorrelationData []byte
	ContentType     string
	UserProperties  []UserProperty
	Payload         []byte
	// PublishError, on an outgoing message, says why the PUBLISH failed:
	// the message was recorded as it was handed to the MQTT client, and
	// again with this set when the client could not send it.
	PublishError string
}

// UserProperty is an MQTT 5 user property.
type UserProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Config configures a Recorder. Zero values mean defaults.
type Config struct {
	// Size is how many messages the ring keeps; default DefaultSize.
	Size int
	// SubscriberBuffer is each subscriber's queue; default
	// DefaultSubscriberBuffer.
	SubscriberBuffer int
}

// Recorder keeps the recent traffic and feeds subscribers. Its methods are
// safe for concurrent use, and a nil *Recorder records nothing.
type Recorder struct {
	bufSize int

	mu sync.Mutex // guards ring, head, count, last and subs
	// ring holds the most recent messages; the oldest is at head once
	// the ring is full.
	ring  []*Entry
	head  int
	count int
	last  uint64 // the ID of the newest message
	subs  map[*Subscription]struct{}
}

// New returns a Recorder.
func New(cfg Config) *Recorder {
	if cfg.Size <= 0 {
		cfg.Size = DefaultSize
	}
	if cfg.SubscriberBuffer <= 0 {
		cfg.SubscriberBuffer = DefaultSubscriberBuffer
	}
	return &Recorder{bufSize: cfg.SubscriberBuffer, ring: make([]*Entry, cfg.Size), subs: map[*Subscription]struct{}{}}
}

// Size is how many messages the ring keeps; 0 for a nil Recorder.
func (r *Recorder) Size() int {
	if r == nil {
		return 0
	}
	return len(r.ring)
}

// Record adds c to the ring, evicting the oldest message when it is full,
// and offers it to every subscriber whose filter it matches. It never
// waits for a subscriber and does not decode anything.
func (r *Recorder) Record(c Capture) {
	if r == nil {
		return
	}
	e := &Entry{c: c}
	r.mu.Lock()
	r.last++
	e.id = r.last
	if r.count < len(r.ring) {
		r.ring[(r.head+r.count)%len(r.ring)] = e
		r.count++
	} else {
		r.ring[r.head] = e
		r.head = (r.head + 1) % len(r.ring)
	}
	for s := range r.subs {
		if !s.f.matches(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.lost.Add(1)
		}
	}
	r.mu.Unlock()
}

// Filter selects messages.
type Filter struct {
	// EndpointID keeps one device's messages; "" keeps all.
	EndpointID string
	// After keeps messages with a greater ID.
	After uint64
	// Limit keeps at most this many, the most recent; 0 or more than the
	// ring's size means the ring's size.
	Limit int
}

func (f Filter) matches(e *Entry) bool {
	return f.EndpointID == "" || e.c.EndpointID == f.EndpointID
}

// Query returns the most recent messages that f selects, oldest first.
func (r *Recorder) Query(f Filter) []*Entry {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.collect(f)
}

// collect collects what f selects; r.mu must be held.
func (r *Recorder) collect(f Filter) []*Entry {
	limit := f.Limit
	if limit <= 0 || limit > len(r.ring) {
		limit = len(r.ring)
	}
	var out []*Entry
	for i := r.count - 1; i >= 0 && len(out) < limit; i-- {
		e := r.ring[(r.head+i)%len(r.ring)]
		if e.id <= f.After {
			break
		}
		if f.matches(e) {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}

// Subscription is a live feed of messages.
type Subscription struct {
	r    *Recorder
	f    Filter
	ch   chan *Entry
	lost atomic.Uint64
	once sync.Once
}

// Subscribe starts a live feed of the messages f selects by endpoint
// (f.Limit is ignored). With replay, it also returns the messages with an
// ID above f.After still in the ring, oldest first, which precede
// everything the feed will carry: nothing is missed or repeated between
// the two. Close the subscription when done.
func (r *Recorder) Subscribe(f Filter, replay bool) (*Subscription, []*Entry) {
	if r == nil {
		s := &Subscription{ch: make(chan *Entry)}
		close(s.ch)
		return s, nil
	}
	s := &Subscription{r: r, f: f, ch: make(chan *Entry, r.bufSize)}
	r.mu.Lock()
	defer r.mu.Unlock()
	var past []*Entry
	if replay {
		f.Limit = 0
		past = r.collect(f)
	}
	r.subs[s] = struct{}{}
	return s, past
}

// C delivers the messages; it is closed when the Recorder is nil.
func (s *Subscription) C() <-chan *Entry { return s.ch }

// Lost returns how many messages the subscription lost, because its
// queue was full, since the last call.
func (s *Subscription) Lost() uint64 { return s.lost.Swap(0) }

// Close ends the subscription; C is not closed, and may still hold
// messages.
func (s *Subscription) Close() {
	if s.r == nil {
		return
	}
	s.once.Do(func() {
		s.r.mu.Lock()
		delete(s.r.subs, s)
		s.r.mu.Unlock()
	})
}

// Subscribers returns the number of live subscriptions.
func (r *Recorder) Subscribers() int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

// Entry is a recorded message.
type Entry struct {
	id   uint64
	c    Capture
	once sync.Once
	// msg and data are the decoded message and its JSON, set by once;
	// msg is a pointer to keep what Record allocates small.
	msg  *Message
	data []byte
}

// ID is the message's ID, increasing from 1 in each Recorder.
func (e *Entry) ID() uint64 { return e.id }

// EndpointID is the device the message went to or came from.
func (e *Entry) EndpointID() string { return e.c.EndpointID }

// Message decodes the message, once.
func (e *Entry) Message() Message {
	e.decode()
	return *e.msg
}

// JSON is the message as JSON, encoded once.
func (e *Entry) JSON() []byte {
	e.decode()
	return e.data
}

func (e *Entry) decode() {
	e.once.Do(func() {
		m := decode(e.id, e.c)
		e.msg = &m
		data, err := json.Marshal(e.msg)
		if err != nil {
			// Only the RawMessages could fail, and protojson wrote them.
			e.msg.Record, e.msg.Msg = nil, nil
			e.msg.Error = "encoding the decoded message: " + err.Error()
			data, _ = json.Marshal(e.msg)
		}
		e.data = data
	})
}
