// Package events is the controller's event log: what devices reported
// (ValueChange, ObjectCreation, ObjectDeletion, Event and OperationComplete
// notifications, Boot!) and what the controller saw happen to them (online,
// offline, on-boarded), kept in a JetStream stream with size and age limits.
//
// The REST API reads it two ways: Query pages through stored events ("the
// last 100 events of this device"), and Subscribe follows new ones for
// Server-Sent Events, resuming after a Last-Event-ID. Every event's ID is its
// stream sequence number, so IDs are unique, increase with time, and serve
// as cursors for both.
//
// Events are stored under the subject <prefix>.<type>.<endpoint>, where
// <endpoint> is the endpoint ID escaped by EndpointToken. Filters by device
// and type are therefore subject filters, which the NATS server applies from
// its per-subject index instead of reading the whole stream.
package events

import (
	"errors"
	"fmt"
	"time"

	"cuttle/broker/creds"
)

// Sentinel errors. Operations wrap them with details; test with errors.Is.
var (
	// ErrInvalid means an event or a filter breaks a rule: no endpoint ID,
	// a type that is not one subject token, a negative limit.
	ErrInvalid = errors.New("invalid")
)

// Event types. Notification types mirror the USP Notify message's
// notification cases; the others are the controller's own observations.
// Other values are allowed as long as ValidType accepts them, so a new kind
// of event does not need a new release of this package.
const (
	TypeValueChange       = "value_change"
	TypeObjectCreation    = "object_creation"
	TypeObjectDeletion    = "object_deletion"
	TypeEvent             = "event"
	TypeOperationComplete = "operation_complete"
	// TypeBoot is the Boot! event, kept apart from TypeEvent because the
	// inventory and operators care about it specifically.
	TypeBoot = "boot"
	// TypeOnline and TypeOffline record the device's presence changing.
	TypeOnline  = "online"
	TypeOffline = "offline"
	// TypeOnBoard is the OnBoardRequest notification.
	TypeOnBoard = "on_board"
)

// Limits on what an event may carry.
const (
	// MaxEndpointIDLen bounds endpoint IDs in bytes, as the broker bounds
	// usernames; escaped, an ID can grow to three times this.
	MaxEndpointIDLen = creds.MaxUsernameLen
	// MaxTypeLen bounds event types in bytes.
	MaxTypeLen = 64
)

// Event is one entry in the log.
type Event struct {
	// ID is the stream sequence number, set by Publish and by reads. It is
	// not stored in the message body: the stream assigns it.
	ID uint64 `json:"id"`
	// Time is when the event happened as the publisher saw it; Publish
	// sets it to the current time when zero.
	Time       time.Time `json:"time"`
	EndpointID string    `json:"endpoint_id"`
	Type       string    `json:"type"`
	// SubscriptionID is the USP subscription that caused a notification.
	SubscriptionID string `json:"subscription_id,omitempty"`
	// Path is the parameter, object, event or command path concerned.
	Path string `json:"path,omitempty"`
	// Data holds the details: a new value, an object's unique keys, event
	// arguments, output arguments, or "err_code" and "err_msg".
	Data map[string]string `json:"data,omitempty"`
}

// ValidType reports whether t can be an event type: 1 to MaxTypeLen bytes
// of ASCII letters, digits, '_' and '-'. A type is one subject token, so
// '.', '*', '>' and white space must never reach the subject.
func ValidType(t string) error {
	if t == "" || len(t) > MaxTypeLen {
		return fmt.Errorf("%w: event type %q: want 1 to %d bytes", ErrInvalid, t, MaxTypeLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: event type %q: only letters, digits, '_' and '-' are allowed", ErrInvalid, t)
		}
	}
	return nil
}

func validEndpointID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty endpoint ID", ErrInvalid)
	case len(id) > MaxEndpointIDLen:
		return fmt.Errorf("%w: endpoint ID longer than %d bytes", ErrInvalid, MaxEndpointIDLen)
	}
	return nil
}

// EndpointToken returns the subject token for an endpoint ID. It is
// creds.EncodeKey, the escaping the credentials and device buckets use for
// their keys, so one device has the same name everywhere: it keeps ASCII
// letters, digits, '-' and '_' and writes every other byte as '=' and two
// hex digits ("os::0044-1" becomes "os=3A=3A0044-1"). Its output is made
// of [A-Za-z0-9_=-] only, so '.', '*', '>' and white space (including any
// non-ASCII byte) can never appear in it, and no further escaping is needed:
// every escaped ID is exactly one valid subject token, and distinct IDs
// give distinct tokens. The empty ID, which would give an empty token, is
// rejected before this is called.
func EndpointToken(endpointID string) string {
	return creds.EncodeKey(endpointID)
}

// validate checks what Publish needs to build the subject.
func (e *Event) validate() error {
	if err := validEndpointID(e.EndpointID); err != nil {
		return err
	}
	return ValidType(e.Type)
}
