// Package path parses, validates and matches USP (TR-369) path names: the
// object, parameter, command and event paths that Controllers send in Get,
// Set, Add, Delete, Operate and Notify messages, including instance numbers,
// wildcards, search expressions, unique-key addressing and reference
// following, and the supported-data-model paths (with "{i}" placeholders) of
// GetSupportedDM and data-model definitions.
//
// Every syntax error is a *usperr.Error with code usperr.InvalidPath (7026),
// carrying the offending path and a message that names the byte offset of the
// problem, so an Agent can put it straight into an Error response.
package path

import "strings"

// Kind says what a path addresses.
type Kind int

// The kinds of path. Object covers both Object Paths and Object Instance Paths
// (the "Partial Paths" of TR-369), which both end in ".".
const (
	Object    Kind = iota // ends in ".", e.g. "Device.WiFi.SSID.1."
	Parameter             // e.g. "Device.WiFi.SSID.1.Enable"
	Command               // ends in "()", e.g. "Device.Reboot()"
	Event                 // ends in "!", e.g. "Device.Boot!"
)

// String returns the kind's name, such as "parameter".
func (k Kind) String() string {
	switch k {
	case Object:
		return "object"
	case Parameter:
		return "parameter"
	case Command:
		return "command"
	case Event:
		return "event"
	}
	return "unknown"
}

// Path is a parsed path name. Paths returned by Parse and ParseSupported are
// never modified by this package, so they can be shared between goroutines;
// callers should treat Segments as read-only.
type Path struct {
	// Segments are the dot-separated parts of the path in order. The first is
	// always the root object's name (normally "Device"). For a parameter,
	// command or event path the last segment is its name (without "()" or
	// "!"); the kind is recorded by Kind.
	Segments []Segment

	kind  Kind
	raw   string // the text that was parsed
	canon string // the canonical text; empty for a Path built by hand
}

// Kind reports whether p addresses an object, parameter, command or event.
func (p *Path) Kind() Kind { return p.kind }

// Raw returns the text p was parsed from, which differs from String only when
// a search expression contained whitespace or a non-canonical escape.
func (p *Path) Raw() string { return p.raw }

// String returns the canonical form of p: no whitespace inside search
// expressions and string literals escaped minimally. For canonical input it is
// the input itself, and parsing it again yields an equal Path.
func (p *Path) String() string {
	if p.canon != "" {
		return p.canon
	}
	return p.format(false)
}

// Supported returns the supported-data-model form of p, with every instance
// identifier (number, "*", search expression) replaced by "{i}", as used to
// look a path up in a data-model definition:
// "Device.WiFi.SSID.3.Stats.BytesSent" gives "Device.WiFi.SSID.{i}.Stats.BytesSent".
// Reference-following segments are kept as written, because the object a
// reference points to is only known at run time.
func (p *Path) Supported() string { return p.format(true) }

// format writes the path; with placeholders set, instance identifiers are
// written as "{i}".
func (p *Path) format(placeholders bool) string {
	var b strings.Builder
	b.Grow(len(p.raw) + 8)
	for i := range p.Segments {
		if i > 0 {
			b.WriteByte('.')
		}
		s := &p.Segments[i]
		if placeholders && s.Kind != SegName {
			b.WriteString("{i}")
			continue
		}
		s.writeTo(&b)
	}
	switch p.kind {
	case Object:
		b.WriteByte('.')
	case Command:
		b.WriteString("()")
	case Event:
		b.WriteByte('!')
	}
	return b.String()
}

// IsSearch reports whether p contains a wildcard or a search expression, and
// so may address any number of instances. Unique-key addressing counts as a
// search here, because the syntax is the same; see Expr.IsUniqueKey.
func (p *Path) IsSearch() bool {
	for i := range p.Segments {
		if k := p.Segments[i].Kind; k == SegWildcard || k == SegExpr {
			return true
		}
	}
	return false
}

// IsPartial reports whether p is a Partial Path (an Object Path or Object
// Instance Path, ending in "."), which addresses an object and everything
// below it.
func (p *Path) IsPartial() bool { return p.kind == Object }

// IsInstance reports whether p is an Object Instance Path, that is an object
// path whose last segment is an instance identifier, such as
// "Device.WiFi.SSID.1." or "Device.IP.Interface.[Name==\"eth0\"].".
func (p *Path) IsInstance() bool {
	return p.kind == Object && p.Segments[len(p.Segments)-1].Kind != SegName
}

// HasRef reports whether any segment of p follows a reference ("+").
func (p *Path) HasRef() bool {
	for i := range p.Segments {
		if p.Segments[i].Ref != RefNone {
			return true
		}
	}
	return false
}

// Name returns the last name in p: the parameter, command or event name, or
// for an object path the name of the (last) object, e.g. "SSID" for
// "Device.WiFi.SSID.3.".
func (p *Path) Name() string {
	for i := len(p.Segments) - 1; i >= 0; i-- {
		if p.Segments[i].Kind == SegName {
			return p.Segments[i].Name
		}
	}
	return ""
}

// Parent returns the object path one level up: the object that holds a
// parameter, command or event, the table of an object instance, or the
// parent of an object. It returns nil for the root object ("Device.").
func (p *Path) Parent() *Path {
	// Dropping the last segment works for every kind: a parameter's last
	// segment is its own name, an object's is its name or instance identifier.
	n := len(p.Segments) - 1
	if n <= 0 {
		return nil
	}
	segs := make([]Segment, n)
	copy(segs, p.Segments[:n])
	q := &Path{Segments: segs, kind: Object}
	q.raw = q.format(false)
	q.canon = q.raw
	return q
}

// Equal reports whether p and q address the same thing in the same way: the
// same kind and the same segments, with equal search expressions. Two paths
// that differ only in whitespace inside expressions are equal.
func (p *Path) Equal(q *Path) bool {
	if p == nil || q == nil {
		return p == q
	}
	if p.kind != q.kind || len(p.Segments) != len(q.Segments) {
		return false
	}
	for i := range p.Segments {
		if !p.Segments[i].equal(&q.Segments[i]) {
			return false
		}
	}
	return true
}

// isConcrete reports whether p names exactly one thing without any run-time
// resolution: instance numbers only, no wildcards, expressions, placeholders
// or reference following.
func (p *Path) isConcrete() bool {
	for i := range p.Segments {
		s := &p.Segments[i]
		if (s.Kind != SegName && s.Kind != SegInstance) || s.Ref != RefNone {
			return false
		}
	}
	return true
}
