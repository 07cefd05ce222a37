package path

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuttle/usp/usperr"
)

// Parse parses a path into the instantiated data model, as Controllers send
// it in Get, Set, Add, Delete, Operate and Notify messages (TR-369 "Data
// Model Path Grammar", idmpath). Instance identifiers may be numbers, "*" or
// search expressions; names may follow references with "+", "#n+" or "#*+".
//
// Beyond the grammar, Parse accepts what TR-369's prose and examples use:
// "-" inside names after the first character (vendor extensions such as
// "X_ACME-COM_Foo"), whitespace around the parts of a search expression,
// a reference followed by "." at the end of an object path ("Interface+."),
// and unquoted booleans, decimals and date-times as expression values.
//
// Any error is a *usperr.Error with code usperr.InvalidPath.
func Parse(s string) (*Path, error) { return parse(s, false) }

// ParseSupported parses a path into the supported data model, as used by
// GetSupportedDM and data-model definitions (TR-369 sdmpath): instances are
// written "{i}" (instance numbers are also allowed), and there are no
// wildcards, search expressions or reference following. Command ("()") and
// event ("!") paths are accepted too, because data models define them.
//
// Any error is a *usperr.Error with code usperr.InvalidPath.
func ParseSupported(s string) (*Path, error) { return parse(s, true) }

func parse(s string, supported bool) (*Path, error) {
	p := parser{s: s, supported: supported, noun: "path"}
	if s == "" {
		return nil, usperr.AtPath(usperr.InvalidPath, s, "at offset 0: empty path")
	}
	segs, kind, err := p.path()
	if err != nil {
		return nil, err
	}
	out := &Path{Segments: segs, kind: kind, raw: s, canon: s}
	if p.dirty {
		out.canon = out.format(false)
	}
	return out, nil
}

// parser holds the state of one parse. Offsets in error messages are byte
// offsets into s.
type parser struct {
	s         string
	i         int
	supported bool   // parsing an sdmpath rather than an idmpath
	noun      string // what s is, for "unexpected end of ..." messages
	// dirty records that s is not in canonical form (whitespace or escape
	// spelling inside an expression), so String must be rebuilt.
	dirty bool
}

// errAt reports a problem with the text starting at off.
func (p *parser) errAt(off int, format string, args ...any) error {
	return usperr.AtPath(usperr.InvalidPath, p.s, "at offset %d: %s", off, fmt.Sprintf(format, args...))
}

// unexpected reports that the character at off (or the end of input) is not
// allowed there, and why.
func (p *parser) unexpected(off int, format string, args ...any) error {
	tok := "end of " + p.noun
	if off < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[off:])
		if r == utf8.RuneError && size <= 1 {
			tok = fmt.Sprintf("%q", p.s[off:off+1])
		} else {
			tok = strconv.Quote(p.s[off : off+size])
		}
	}
	return usperr.AtPath(usperr.InvalidPath, p.s, "unexpected %s at offset %d: %s", tok, off, fmt.Sprintf(format, args...))
}

// badChar explains a character that cannot appear at off in the path proper
// (outside search expressions), falling back to reason for characters that
// have no more specific explanation.
func (p *parser) badChar(off int, reason string) error {
	if off >= len(p.s) {
		return p.unexpected(off, "%s", reason)
	}
	switch p.s[off] {
	case ' ', '\t', '\n', '\r':
		return p.unexpected(off, "whitespace is only allowed inside search expressions")
	case '.':
		return p.unexpected(off, "empty path segment")
	case ']':
		return p.unexpected(off, `unbalanced "]"`)
	case '&', '=', '<', '>', '~', '"':
		return p.unexpected(off, "search expression syntax outside square brackets")
	}
	return p.unexpected(off, "%s", reason)
}

func isNameStart(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_'
}

func isNameChar(c byte) bool {
	return isNameStart(c) || c >= '0' && c <= '9' || c == '-'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isInstanceStart reports whether c can begin an instance identifier.
func isInstanceStart(c byte) bool { return isDigit(c) || c == '*' || c == '[' || c == '{' }

// path parses the whole of p.s.
func (p *parser) path() ([]Segment, Kind, error) {
	s := p.s
	// The root is a name: nothing precedes it that could be a table.
	if isInstanceStart(s[0]) {
		return nil, 0, p.unexpected(0, "a path must start with an object name such as \"Device\", not an instance identifier")
	}
	root, err := p.name()
	if err != nil {
		return nil, 0, err
	}
	segs := make([]Segment, 1, strings.Count(s, ".")+1)
	segs[0] = Segment{Kind: SegName, Name: root}
	if p.i == len(s) || s[p.i] != '.' {
		return nil, 0, p.badChar(p.i, fmt.Sprintf("a path must start with an object, e.g. %q", root+"."))
	}
	p.i++
	for {
		if p.i == len(s) {
			return segs, Object, nil
		}
		c := s[p.i]
		if isNameStart(c) {
			seg := Segment{Kind: SegName}
			seg.Name, _ = p.name() // cannot fail: c starts a name
			if p.i == len(s) {
				return append(segs, seg), Parameter, nil
			}
			switch s[p.i] {
			case '.':
				p.i++
				segs = append(segs, seg)
				continue
			case '(':
				if !strings.HasPrefix(s[p.i:], "()") {
					return nil, 0, p.unexpected(p.i+1, `a command name must be followed by "()" with nothing inside`)
				}
				p.i += 2
				if p.i != len(s) {
					return nil, 0, p.unexpected(p.i, `nothing may follow the "()" of a command path`)
				}
				return append(segs, seg), Command, nil
			case '!':
				p.i++
				if p.i != len(s) {
					return nil, 0, p.unexpected(p.i, `nothing may follow the "!" of an event path`)
				}
				return append(segs, seg), Event, nil
			case '+', '#':
				if p.supported {
					return nil, 0, p.unexpected(p.i, "reference following is not allowed in supported data model paths")
				}
				if err := p.refFollow(&seg); err != nil {
					return nil, 0, err
				}
				if p.i == len(s) || s[p.i] != '.' {
					return nil, 0, p.unexpected(p.i, `reference following must be followed by "."`)
				}
				p.i++
				segs = append(segs, seg)
				continue
			}
			return nil, 0, p.badChar(p.i, fmt.Sprintf("not allowed after the name %q", seg.Name))
		}
		if !isInstanceStart(c) {
			return nil, 0, p.badChar(p.i, "expected a name or an instance identifier")
		}
		prev := &segs[len(segs)-1]
		switch {
		case prev.Kind != SegName:
			return nil, 0, p.unexpected(p.i, "an instance identifier must follow a table name, not another instance identifier")
		case len(segs) == 1:
			return nil, 0, p.unexpected(p.i, "the root object %q is not a table and has no instances", prev.Name)
		case prev.Ref != RefNone:
			return nil, 0, p.unexpected(p.i, "a followed reference already selects an instance; expected a name")
		}
		seg, err := p.instance()
		if err != nil {
			return nil, 0, err
		}
		segs = append(segs, seg)
		if p.i == len(s) {
			return nil, 0, p.unexpected(p.i, `an object instance path must end with "."`)
		}
		if s[p.i] != '.' {
			return nil, 0, p.badChar(p.i, `expected "." after the instance identifier`)
		}
		p.i++
	}
}

// name parses a name at p.i.
func (p *parser) name() (string, error) {
	start := p.i
	if p.i >= len(p.s) || !isNameStart(p.s[p.i]) {
		return "", p.badChar(p.i, "expected a name (a letter or \"_\" first)")
	}
	p.i++
	for p.i < len(p.s) && isNameChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], nil
}

// instance parses an instance identifier at p.i, whose first character
// satisfies isInstanceStart.
func (p *parser) instance() (Segment, error) {
	start := p.i
	switch c := p.s[p.i]; {
	case isDigit(c):
		n, err := p.posnum("instance number")
		if err != nil {
			return Segment{}, err
		}
		return Segment{Kind: SegInstance, Instance: n}, nil
	case c == '*':
		if p.supported {
			return Segment{}, p.unexpected(start, `wildcards are not allowed in supported data model paths; use "{i}"`)
		}
		p.i++
		return Segment{Kind: SegWildcard}, nil
	case c == '[':
		if p.supported {
			return Segment{}, p.unexpected(start, `search expressions are not allowed in supported data model paths; use "{i}"`)
		}
		e, err := p.expr()
		if err != nil {
			return Segment{}, err
		}
		return Segment{Kind: SegExpr, Expr: e}, nil
	}
	// c == '{'
	if !strings.HasPrefix(p.s[p.i:], "{i}") {
		return Segment{}, p.unexpected(start, `curly brackets are only allowed as the "{i}" placeholder; search expressions use square brackets`)
	}
	if !p.supported {
		return Segment{}, p.unexpected(start, `the "{i}" placeholder is only allowed in supported data model paths; use an instance number, "*" or a search expression`)
	}
	p.i += 3
	return Segment{Kind: SegPlaceholder}, nil
}

// posnum parses a positive decimal number without leading zeros, such as an
// instance number or list item number; what names it in errors.
func (p *parser) posnum(what string) (int, error) {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	lit := p.s[start:p.i]
	switch {
	case lit == "":
		return 0, p.unexpected(start, "expected a %s", what)
	case lit == "0":
		return 0, p.errAt(start, "%s 0 is invalid: numbering starts at 1", what)
	case lit[0] == '0':
		return 0, p.errAt(start, "%s %q has a leading zero", what, lit)
	}
	// Instance numbers are unsignedInt in TR-181, so anything larger cannot
	// exist; checking here also keeps the conversion from overflowing.
	n, err := strconv.ParseUint(lit, 10, 32)
	if err != nil {
		return 0, p.errAt(start, "%s %s is out of range (maximum %d)", what, lit, uint32(math.MaxUint32))
	}
	return int(n), nil
}

// refFollow parses "+", "#n+" or "#*+" at p.i into seg.
func (p *parser) refFollow(seg *Segment) error {
	if p.s[p.i] == '+' {
		p.i++
		seg.Ref = RefFirst
		return nil
	}
	p.i++ // '#'
	switch {
	case p.i < len(p.s) && p.s[p.i] == '*':
		p.i++
		seg.Ref = RefAll
	case p.i < len(p.s) && isDigit(p.s[p.i]):
		n, err := p.posnum("list item number")
		if err != nil {
			return err
		}
		seg.Ref, seg.RefN = RefNth, n
	default:
		return p.unexpected(p.i, `expected a list item number or "*" after "#" (reference following is "#n+" or "#*+")`)
	}
	if p.i == len(p.s) || p.s[p.i] != '+' {
		return p.unexpected(p.i, `expected "+" to complete the reference following`)
	}
	p.i++
	return nil
}
