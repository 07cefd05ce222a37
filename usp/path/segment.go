package path

import (
	"strconv"
	"strings"
)

// SegKind says what a path segment is.
type SegKind int

// The kinds of segment.
const (
	SegName        SegKind = iota // an object, parameter, command or event name
	SegInstance                   // an instance number, e.g. "3"
	SegWildcard                   // "*", every instance
	SegExpr                       // a search expression or unique key, e.g. `[Name=="eth0"]`
	SegPlaceholder                // "{i}" in a supported-data-model path
)

// String returns the segment kind's name, such as "instance".
func (k SegKind) String() string {
	switch k {
	case SegName:
		return "name"
	case SegInstance:
		return "instance"
	case SegWildcard:
		return "wildcard"
	case SegExpr:
		return "expression"
	case SegPlaceholder:
		return "placeholder"
	}
	return "unknown"
}

// RefFollow says how a reference parameter named in a path is followed.
type RefFollow int

// The forms of reference following. "Param+" is RefFirst rather than RefNth
// with 1 (which TR-369 defines as equivalent) so that String reproduces what
// was written.
const (
	RefNone  RefFollow = iota // a plain name
	RefFirst                  // "Param+": the reference, or the first of a list
	RefNth                    // "Param#n+": list item n (1-based), in Segment.RefN
	RefAll                    // "Param#*+": every item of a list of references
)

// suffix returns the reference-following suffix for f with n as the list item
// number, such as "+", "#2+" or "#*+".
func (f RefFollow) suffix(n int) string {
	switch f {
	case RefFirst:
		return "+"
	case RefNth:
		return "#" + strconv.Itoa(n) + "+"
	case RefAll:
		return "#*+"
	}
	return ""
}

// Segment is one dot-separated part of a path.
type Segment struct {
	Kind SegKind
	// Name is set for SegName.
	Name string
	// Instance is the instance number of a SegInstance.
	Instance int
	// Expr is the search expression of a SegExpr.
	Expr *Expr
	// Ref says whether a SegName is a reference parameter to follow; the
	// next segment is then inside the referenced object.
	Ref RefFollow
	// RefN is the list item number for RefNth.
	RefN int
}

// String returns the segment as it appears in a canonical path.
func (s Segment) String() string {
	var b strings.Builder
	s.writeTo(&b)
	return b.String()
}

func (s *Segment) writeTo(b *strings.Builder) {
	switch s.Kind {
	case SegName:
		b.WriteString(s.Name)
		b.WriteString(s.Ref.suffix(s.RefN))
	case SegInstance:
		b.WriteString(strconv.Itoa(s.Instance))
	case SegWildcard:
		b.WriteByte('*')
	case SegExpr:
		s.Expr.writeTo(b)
	case SegPlaceholder:
		b.WriteString("{i}")
	}
}

func (s *Segment) equal(t *Segment) bool {
	if s.Kind != t.Kind || s.Name != t.Name || s.Instance != t.Instance ||
		s.Ref != t.Ref || s.RefN != t.RefN {
		return false
	}
	if s.Expr == nil || t.Expr == nil {
		return s.Expr == t.Expr
	}
	return s.Expr.Equal(t.Expr)
}
