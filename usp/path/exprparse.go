package path

import (
	"strings"
	"time"
)

// space skips the whitespace that R-ARC.9a asks Agents to tolerate inside
// search expressions; it makes the input non-canonical.
func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
		p.dirty = true
	}
}

// expr parses a search expression starting at the "[" at p.i.
func (p *parser) expr() (*Expr, error) {
	open := p.i
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		return nil, p.unexpected(p.i, "empty search expression")
	}
	e := &Expr{}
	for {
		c, err := p.cond(open)
		if err != nil {
			return nil, err
		}
		e.Conds = append(e.Conds, c)
		p.space()
		if p.i == len(p.s) {
			return nil, p.unterminated(open)
		}
		switch p.s[p.i] {
		case ']':
			p.i++
			return e, nil
		case '&':
			if !strings.HasPrefix(p.s[p.i:], "&&") {
				return nil, p.unexpected(p.i, `expression components are joined with "&&"`)
			}
			p.i += 2
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ']' {
				return nil, p.unexpected(p.i, `expected an expression component after "&&"`)
			}
		case '|':
			return nil, p.unexpected(p.i, `only "&&" may join expression components; there is no OR`)
		default:
			return nil, p.unexpected(p.i, `expected "&&" or "]" after an expression component`)
		}
	}
}

func (p *parser) unterminated(open int) error {
	return p.unexpected(p.i, `unterminated search expression: no "]" for the "[" at offset %d`, open)
}

// cond parses one expression component: relative path, operator, value.
func (p *parser) cond(open int) (Cond, error) {
	var c Cond
	if p.i == len(p.s) {
		return c, p.unterminated(open)
	}
	start := p.i
	if err := p.relPath(open); err != nil {
		return c, err
	}
	c.Path = p.s[start:p.i]
	p.space()

	opStart := p.i
	for p.i < len(p.s) && strings.IndexByte("=!<>~", p.s[p.i]) >= 0 {
		p.i++
	}
	if p.i == opStart {
		if p.i == len(p.s) {
			return c, p.unterminated(open)
		}
		return c, p.unexpected(p.i, "expected an operator (==, !=, ~=, <, >, <=, >=) after %q", c.Path)
	}
	op, ok := lookupOp(p.s[opStart:p.i])
	if !ok {
		return c, p.errAt(opStart, "unknown operator %q (expected ==, !=, ~=, <, >, <=, >=)", p.s[opStart:p.i])
	}
	c.Op = op
	p.space()

	if err := p.value(open, &c); err != nil {
		return c, err
	}
	if op.ordered() && (c.Kind == String || c.Kind == Bool) {
		return c, p.errAt(opStart, "operator %q needs a number or date-time; %s values only allow == and !=", op, c.Kind)
	}
	return c, nil
}

// relPath parses an expression parameter: names joined by ".", each possibly
// following a reference. Instance identifiers are refused, because TR-369
// does not let an expression descend into a child table.
func (p *parser) relPath(open int) error {
	for {
		if p.i == len(p.s) {
			return p.unterminated(open)
		}
		if c := p.s[p.i]; !isNameStart(c) {
			switch {
			case isInstanceStart(c):
				return p.unexpected(p.i, "a search expression cannot descend into a child table")
			case c == ']':
				return p.unexpected(p.i, "expected a parameter name")
			}
			return p.unexpected(p.i, "expected a parameter name (a letter or \"_\" first)")
		}
		p.name() // cannot fail: isNameStart was checked above
		if p.i == len(p.s) {
			return p.unterminated(open)
		}
		switch p.s[p.i] {
		case '.':
			p.i++
		case '+', '#':
			var seg Segment
			if err := p.refFollow(&seg); err != nil {
				return err
			}
			if p.i == len(p.s) || p.s[p.i] != '.' {
				return p.unexpected(p.i, `reference following must be followed by "." and a parameter name`)
			}
			p.i++
		default:
			return nil
		}
	}
}

// value parses the literal at p.i into c.Value and c.Kind.
func (p *parser) value(open int, c *Cond) error {
	if p.i == len(p.s) {
		return p.unterminated(open)
	}
	start := p.i
	if p.s[p.i] == '"' {
		end := strings.IndexByte(p.s[p.i+1:], '"')
		if end < 0 {
			return p.errAt(start, "unterminated string literal")
		}
		raw := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		c.Kind = String
		c.Value = decodeLiteral(raw)
		if strings.IndexByte(raw, '%') >= 0 && encodeLiteral(c.Value) != raw {
			p.dirty = true
		}
		return nil
	}
	for p.i < len(p.s) && isBareChar(p.s[p.i]) {
		p.i++
	}
	tok := p.s[start:p.i]
	switch {
	case tok == "":
		return p.unexpected(p.i, "expected a value: a double-quoted string, a number, true or false")
	case tok == "true" || tok == "false":
		c.Kind = Bool
	case isNumber(tok):
		c.Kind = Number
	case isDateTime(tok):
		c.Kind = DateTime
	case isDigit(tok[0]) || tok[0] == '-' || tok[0] == '+':
		return p.errAt(start, "invalid number %q", tok)
	default:
		return p.errAt(start, "unquoted value %q: strings must be double-quoted", tok)
	}
	c.Value = tok
	return nil
}

// isBareChar reports whether c can be part of an unquoted value.
func isBareChar(c byte) bool {
	return isNameChar(c) || c == '.' || c == ':' || c == '+'
}

// isNumber reports whether s is a decimal number: an optional sign, digits
// and an optional fraction. TR-369's grammar only has integers without
// leading zeros, but its prose treats 123, +123 and 0123 as the same int and
// TR-106 decimals have fractions, so all are accepted as written.
func isNumber(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasFrac || allDigits(frac))
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// isDateTime reports whether s is a TR-106 dateTime with a time zone, which
// TR-369's own examples write unquoted ("ValidLifetime<2021-06-06T08:00:00Z").
func isDateTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
