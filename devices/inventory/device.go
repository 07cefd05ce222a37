package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Device statuses.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// Limits on labels. Keys and values follow Kubernetes' 63-character limit, so
// labels copied from or to other tools fit.
const (
	MaxLabelKeyLen   = 63
	MaxLabelValueLen = 63
	// MaxLabels bounds the labels of one device, which every query scans.
	MaxLabels = 64
)

// Device is one device's record in the inventory, as stored in NATS KV and
// returned by the API.
type Device struct {
	EndpointID string `json:"endpoint_id"`
	// Status is StatusOnline or StatusOffline.
	Status      string    `json:"status"`
	StatusSince time.Time `json:"status_since"`
	LastSeen    time.Time `json:"last_seen"`

	Manufacturer    string `json:"manufacturer"`
	ManufacturerOUI string `json:"manufacturer_oui,omitempty"`
	// Model is TR-181's Device.DeviceInfo.ModelName.
	Model           string `json:"model"`
	ProductClass    string `json:"product_class,omitempty"`
	SerialNumber    string `json:"serial_number,omitempty"`
	SoftwareVersion string `json:"software_version"`
	HardwareVersion string `json:"hardware_version,omitempty"`
	// Boot is the device's last Boot! event.
	Boot *Boot `json:"boot,omitempty"`
	// Labels are operators' tags. They marshal as {} rather than null when
	// empty, so scripts can index them without a check.
	Labels map[string]string `json:"labels"`

	BrokerNode string `json:"broker_node,omitempty"`
	Remote     string `json:"remote,omitempty"`
	// ReplyTopic is where to send requests, learned from the device.
	ReplyTopic string `json:"reply_topic,omitempty"`
	// Subscribed reports that the controller created its default
	// subscriptions on the device.
	Subscribed bool `json:"subscribed,omitempty"`

	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Revision is the KV revision the record was read at. Update uses it for
	// compare-and-set; it is not part of the stored value.
	Revision uint64 `json:"-"`
}

// Boot is the content of a USP Boot! event.
type Boot struct {
	Time            time.Time         `json:"time"`
	Cause           string            `json:"cause"`
	CommandKey      string            `json:"command_key"`
	Reason          string            `json:"reason"`
	FirmwareUpdated bool              `json:"firmware_updated"`
	ParameterMap    map[string]string `json:"parameter_map,omitempty"`
}

// MarshalJSON writes d with Labels as {} when nil, so a Device built
// elsewhere keeps the "never null" promise too.
func (d Device) MarshalJSON() ([]byte, error) {
	type plain Device // no methods, so no recursion
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	return json.Marshal(plain(d))
}

// Clone returns a copy of d that shares no maps or pointers with it. The
// inventory hands out clones so that callers may modify what they get.
func (d Device) Clone() Device {
	d.Labels = maps.Clone(d.Labels)
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	if d.Boot != nil {
		b := *d.Boot
		b.ParameterMap = maps.Clone(b.ParameterMap)
		d.Boot = &b
	}
	return d
}

// FieldError says which field of a request is invalid and why. It matches
// ErrInvalid with errors.Is, and the API turns Field into a field-level
// validation message.
type FieldError struct {
	// Field names the field as in JSON or a query string, e.g. "status",
	// "sort", or "labels[site]" for one label.
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "invalid " + e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidLabelKey checks a label key: 1 to 63 of A-Z a-z 0-9 . _ / -. Keeping
// '=', '!' and ',' out is what makes selectors unambiguous.
func ValidLabelKey(k string) error {
	if k == "" || len(k) > MaxLabelKeyLen {
		return fieldErr("labels["+k+"]", "key must have 1 to %d characters", MaxLabelKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return fieldErr("labels["+k+"]", "key has a bad character %q (allowed: A-Z a-z 0-9 . _ / -)", c)
		}
	}
	return nil
}

// ValidLabelValue checks the value of label k: at most 63 bytes of
// printable UTF-8. A value may not contain ',' nor start or end with a
// space, so that every value can be written in a selector
// ("site=north,tier!=gold"), which splits at commas and trims spaces.
func ValidLabelValue(k, v string) error {
	field := "labels[" + k + "]"
	switch {
	case len(v) > MaxLabelValueLen:
		return fieldErr(field, "value is longer than %d bytes", MaxLabelValueLen)
	case !utf8.ValidString(v):
		return fieldErr(field, "value is not valid UTF-8")
	case strings.TrimSpace(v) != v:
		return fieldErr(field, "value starts or ends with white space")
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || r == ',' {
			return fieldErr(field, "value has a bad character %q", r)
		}
	}
	return nil
}

// validate checks what Update must not store.
func (d *Device) validate() error {
	if d.Status != StatusOnline && d.Status != StatusOffline {
		return fieldErr("status", "%q is neither %q nor %q", d.Status, StatusOnline, StatusOffline)
	}
	if len(d.Labels) > MaxLabels {
		return fieldErr("labels", "%d labels, at most %d allowed", len(d.Labels), MaxLabels)
	}
	for k, v := range d.Labels {
		if err := ValidLabelKey(k); err != nil {
			return err
		}
		if err := ValidLabelValue(k, v); err != nil {
			return err
		}
	}
	return nil
}

// normalizeTimes puts every time in UTC, which is also how they come back
// from JSON: a device written locally and one read from the watch compare
// and print the same.
func (d *Device) normalizeTimes() {
	for _, t := range []*time.Time{&d.StatusSince, &d.LastSeen, &d.Created, &d.Updated} {
		*t = t.UTC()
	}
	if d.Boot != nil {
		d.Boot.Time = d.Boot.Time.UTC()
	}
}

// errKeyMismatch means a stored value names another device than its key.
var errKeyMismatch = errors.New("endpoint_id does not match the key")

// decodeDevice decodes a stored value for endpoint ID eid (from the key).
func decodeDevice(eid string, val []byte, rev uint64) (Device, error) {
	var d Device
	if err := json.Unmarshal(val, &d); err != nil {
		return Device{}, err
	}
	if d.EndpointID != eid {
		return Device{}, fmt.Errorf("%w: %q", errKeyMismatch, d.EndpointID)
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	d.Revision = rev
	return d, nil
}
