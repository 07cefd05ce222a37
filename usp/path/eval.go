package path

import (
	"strings"
	"time"
)

// Eval reports whether every condition of e holds for one object instance.
// get is called with each Cond.Path as written (relative to the instance,
// possibly crossing sub-objects or following references, which get must
// resolve) and returns that parameter's value; a missing parameter (false)
// makes its condition false.
func (e *Expr) Eval(get func(rel string) (string, bool)) bool {
	for i := range e.Conds {
		c := &e.Conds[i]
		v, ok := get(c.Path)
		if !ok || !c.Holds(v) {
			return false
		}
	}
	return true
}

// Holds reports whether the condition is true of a parameter whose value is
// v, given as its TR-106 string representation. The literal's kind decides
// the comparison:
//
//   - String: exact, case-sensitive comparison.
//   - Bool: v must be a boolean ("true"/"1" or "false"/"0").
//   - Number: numeric comparison, exact for any size of integer or decimal;
//     a boolean v counts as 1 or 0 (TR-369's own example is `[Enable==1]`).
//   - DateTime: comparison of instants.
//
// A v that is not of the literal's type makes the condition false whatever
// the operator, including "!=": a condition on the wrong type holds for
// nothing. "~=" holds when v, a comma-separated list, has an item equal to
// the literal (spaces around items are ignored).
func (c *Cond) Holds(v string) bool {
	if c.Op == OpContains {
		if strings.TrimSpace(v) == "" {
			return false // an empty list contains nothing
		}
		for item := range strings.SplitSeq(v, ",") {
			if r, ok := c.compare(strings.TrimSpace(item)); ok && r == 0 {
				return true
			}
		}
		return false
	}
	r, ok := c.compare(v)
	if !ok {
		return false
	}
	switch c.Op {
	case OpEq:
		return r == 0
	case OpNe:
		return r != 0
	case OpLt:
		return r < 0
	case OpGt:
		return r > 0
	case OpLe:
		return r <= 0
	case OpGe:
		return r >= 0
	}
	return false
}

// compare orders v against the literal (negative when v is smaller); ok is
// false when v cannot be read as the literal's type. For strings and
// booleans only equality is meaningful, which Parse enforces.
func (c *Cond) compare(v string) (r int, ok bool) {
	switch c.Kind {
	case String:
		return strings.Compare(v, c.Value), true
	case Bool:
		b, ok := parseBool(v)
		if !ok {
			return 0, false
		}
		if b == (c.Value == "true") {
			return 0, true
		}
		return 1, true
	case Number:
		switch v {
		case "true":
			v = "1"
		case "false":
			v = "0"
		}
		return compareDecimal(v, c.Value)
	case DateTime:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, false
		}
		lit, err := time.Parse(time.RFC3339Nano, c.Value)
		if err != nil {
			return 0, false
		}
		return t.Compare(lit), true
	}
	return 0, false
}

// parseBool reads a TR-106 boolean.
func parseBool(v string) (bool, bool) {
	switch v {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// decimal is a parsed decimal number with its digits normalised, so that
// comparing is a matter of comparing strings: no leading zeros in whole, no
// trailing zeros in frac, and zero is never negative.
type decimal struct {
	neg         bool
	whole, frac string
}

func parseDecimal(s string) (decimal, bool) {
	if !isNumber(s) {
		return decimal{}, false
	}
	var d decimal
	switch s[0] {
	case '-':
		d.neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	d.whole = strings.TrimLeft(whole, "0")
	d.frac = strings.TrimRight(frac, "0")
	if d.whole == "" && d.frac == "" {
		d.neg = false
	}
	return d, true
}

// compareDecimal compares two decimal strings exactly. Going through
// float64 would make large unsignedLong counters (such as BytesSent) compare
// equal when they differ.
func compareDecimal(a, b string) (int, bool) {
	x, ok := parseDecimal(a)
	if !ok {
		return 0, false
	}
	y, ok := parseDecimal(b)
	if !ok {
		return 0, false
	}
	if x.neg != y.neg {
		if x.neg {
			return -1, true
		}
		return 1, true
	}
	r := compareMagnitude(x, y)
	if x.neg {
		r = -r
	}
	return r, true
}

func compareMagnitude(x, y decimal) int {
	if len(x.whole) != len(y.whole) {
		if len(x.whole) < len(y.whole) {
			return -1
		}
		return 1
	}
	if r := strings.Compare(x.whole, y.whole); r != 0 {
		return r
	}
	// Without trailing zeros, fractions compare like strings: "5" < "51" < "6".
	return strings.Compare(x.frac, y.frac)
}
