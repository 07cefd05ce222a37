package path

import (
	"strings"

	"cuttle/usp/usperr"
)

// Op is a search expression operator.
type Op int

// The operators of TR-369 search expressions.
const (
	OpEq       Op = iota // ==
	OpNe                 // !=
	OpContains           // ~=, a comma-separated list contains the value
	OpLt                 // <
	OpGt                 // >
	OpLe                 // <=
	OpGe                 // >=
)

var opText = [...]string{OpEq: "==", OpNe: "!=", OpContains: "~=", OpLt: "<", OpGt: ">", OpLe: "<=", OpGe: ">="}

// String returns the operator as written in a path, such as "==".
func (o Op) String() string {
	if o >= 0 && int(o) < len(opText) {
		return opText[o]
	}
	return "?"
}

// ordered reports whether o compares by order, which TR-369 allows only for
// numbers and date-times.
func (o Op) ordered() bool { return o >= OpLt }

func lookupOp(s string) (Op, bool) {
	for i, t := range opText {
		if t == s {
			return Op(i), true
		}
	}
	return 0, false
}

// ValueKind is the type of a literal in a search expression, which decides
// how it is compared with a parameter's value.
type ValueKind int

// The kinds of literal.
const (
	String   ValueKind = iota // "double-quoted", compared exactly
	Number                    // 0, -12, 1.5: compared numerically
	Bool                      // true or false: compared as a TR-106 boolean
	DateTime                  // 2021-06-06T08:00:00Z: compared as an instant
)

// String returns the value kind's name, such as "number".
func (k ValueKind) String() string {
	switch k {
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "boolean"
	case DateTime:
		return "dateTime"
	}
	return "unknown"
}

// Expr is a search expression: conditions that must all hold ("&&"; TR-369
// has no OR). An expression made of "==" conditions on the table's unique key
// parameters addresses one instance (unique-key addressing).
type Expr struct {
	Conds []Cond
}

// Cond is one expression component, such as `Stats.ErrorsSent>0`.
type Cond struct {
	// Path is the parameter path relative to the instance being tested, in
	// canonical form, e.g. "Enable", "Stats.ErrorsSent" or
	// "SSIDReference+.SSID". It never descends into a child table.
	Path string
	Op   Op
	// Value is the literal: for a String, decoded ("%22" and "%25" become
	// `"` and "%"); for other kinds, the text as written.
	Value string
	Kind  ValueKind
}

// ParseExpr parses a search expression including its square brackets, such
// as `[Type=="Normal"&&Stats.ErrorsSent>0]`, under the same rules as Parse.
// Any error is a *usperr.Error with code usperr.InvalidPath whose offsets
// count from the "[".
func ParseExpr(s string) (*Expr, error) {
	p := parser{s: s, noun: "expression"}
	if s == "" || s[0] != '[' {
		return nil, usperr.AtPath(usperr.InvalidPath, s, `at offset 0: a search expression must start with "["`)
	}
	e, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.i != len(s) {
		return nil, p.unexpected(p.i, `nothing may follow the "]" of a search expression`)
	}
	return e, nil
}

// String returns the expression in canonical form, with its brackets.
func (e *Expr) String() string {
	var b strings.Builder
	e.writeTo(&b)
	return b.String()
}

func (e *Expr) writeTo(b *strings.Builder) {
	b.WriteByte('[')
	for i := range e.Conds {
		if i > 0 {
			b.WriteString("&&")
		}
		e.Conds[i].writeTo(b)
	}
	b.WriteByte(']')
}

// IsUniqueKey reports whether e has the shape of unique-key addressing: only
// "==" conditions on parameters of the instance itself (no sub-objects, no
// reference following). Whether those parameters really form a unique key,
// and all of it, only the data model can tell; an incomplete key is a search.
func (e *Expr) IsUniqueKey() bool {
	for i := range e.Conds {
		c := &e.Conds[i]
		if c.Op != OpEq || strings.ContainsAny(c.Path, ".+#") {
			return false
		}
	}
	return len(e.Conds) > 0
}

// Equal reports whether e and f have the same conditions in the same order.
func (e *Expr) Equal(f *Expr) bool {
	if len(e.Conds) != len(f.Conds) {
		return false
	}
	for i := range e.Conds {
		if e.Conds[i] != f.Conds[i] {
			return false
		}
	}
	return true
}

// String returns the condition in canonical form, such as `Name=="eth0"`.
func (c Cond) String() string {
	var b strings.Builder
	c.writeTo(&b)
	return b.String()
}

func (c *Cond) writeTo(b *strings.Builder) {
	b.WriteString(c.Path)
	b.WriteString(c.Op.String())
	if c.Kind == String {
		b.WriteByte('"')
		b.WriteString(encodeLiteral(c.Value))
		b.WriteByte('"')
		return
	}
	b.WriteString(c.Value)
}

// decodeLiteral undoes the percent-escapes of a string literal: "%22" is `"`
// and "%25" is "%". Any other "%" stands for itself, because TR-369 only
// defines these two escapes and Controllers send other "%" unescaped.
func decodeLiteral(raw string) string {
	if !strings.Contains(raw, "%") {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' && i+2 < len(raw) && raw[i+1] == '2' && (raw[i+2] == '2' || raw[i+2] == '5') {
			if raw[i+2] == '2' {
				b.WriteByte('"')
			} else {
				b.WriteByte('%')
			}
			i += 2
			continue
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

// encodeLiteral is the inverse of decodeLiteral, escaping every `"` and "%"
// as TR-369 requires, so that String always produces what a strict Agent
// accepts even when the input relied on a tolerated bare "%".
func encodeLiteral(v string) string {
	if !strings.ContainsAny(v, `"%`) {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			b.WriteString("%22")
		case '%':
			b.WriteString("%25")
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}
