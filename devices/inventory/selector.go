package inventory

import (
	"errors"
	"strings"
)

// maxSelectorLen bounds a label selector; it is user input, and every
// requirement costs a map lookup per device.
const maxSelectorLen = 2048

// requirement is one comma-separated term of a label selector.
type requirement struct {
	key   string
	op    selectorOp
	value string
}

type selectorOp uint8

const (
	opEq        selectorOp = iota // key=value or key==value
	opNe                          // key!=value: absent, or another value
	opExists                      // key
	opNotExists                   // !key
)

// Selector is a parsed label selector. The zero Selector matches every
// device.
type Selector struct {
	reqs []requirement
}

// ParseSelector parses a label selector such as
// "site=north,tier!=gold,has-key,!no-key". Terms are separated by commas
// and all must hold; spaces around keys, operators and values are ignored.
// Label keys cannot contain '=', '!' or ',', so the first '=' or '!' after
// the key is the operator and the rest of the term is the value, which may
// be empty ("site=" matches an empty value). Bad syntax is an error
// matching ErrInvalid, naming the term.
func ParseSelector(s string) (Selector, error) {
	if strings.TrimSpace(s) == "" {
		return Selector{}, nil
	}
	if len(s) > maxSelectorLen {
		return Selector{}, fieldErr("labels", "selector is longer than %d bytes", maxSelectorLen)
	}
	terms := strings.Split(s, ",")
	sel := Selector{reqs: make([]requirement, 0, len(terms))}
	for n, term := range terms {
		r, err := parseRequirement(strings.TrimSpace(term))
		if err != nil {
			return Selector{}, fieldErr("labels", "term %d %q: %s", n+1, term, reason(err))
		}
		sel.reqs = append(sel.reqs, r)
	}
	return sel, nil
}

// reason is the text of a FieldError without its field, or of any error.
func reason(err error) string {
	if fe, ok := errors.AsType[*FieldError](err); ok {
		return fe.Reason
	}
	return err.Error()
}

func parseRequirement(t string) (requirement, error) {
	if t == "" {
		return requirement{}, errors.New("empty term")
	}
	if rest, ok := strings.CutPrefix(t, "!"); ok {
		k := strings.TrimSpace(rest)
		if err := ValidLabelKey(k); err != nil {
			return requirement{}, errors.New("after '!': " + reason(err))
		}
		return requirement{key: k, op: opNotExists}, nil
	}
	i := strings.IndexAny(t, "=!")
	if i < 0 {
		if err := ValidLabelKey(t); err != nil {
			return requirement{}, err
		}
		return requirement{key: t, op: opExists}, nil
	}
	r := requirement{key: strings.TrimSpace(t[:i])}
	var rest string
	switch {
	case strings.HasPrefix(t[i:], "!="):
		r.op, rest = opNe, t[i+2:]
	case strings.HasPrefix(t[i:], "=="):
		r.op, rest = opEq, t[i+2:]
	case t[i] == '=':
		r.op, rest = opEq, t[i+1:]
	default:
		return requirement{}, errors.New("'!' must start the term or be followed by '='")
	}
	if err := ValidLabelKey(r.key); err != nil {
		return requirement{}, err
	}
	r.value = strings.TrimSpace(rest)
	if err := ValidLabelValue(r.key, r.value); err != nil {
		return requirement{}, err
	}
	return r, nil
}

// Matches reports whether labels satisfy every term of s.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s.reqs {
		v, ok := labels[r.key]
		switch r.op {
		case opEq:
			if !ok || v != r.value {
				return false
			}
		case opNe:
			if ok && v == r.value {
				return false
			}
		case opExists:
			if !ok {
				return false
			}
		case opNotExists:
			if ok {
				return false
			}
		}
	}
	return true
}

// Empty reports whether s has no terms and so matches every device.
func (s Selector) Empty() bool { return len(s.reqs) == 0 }

// String writes s in canonical form, which parses back to the same
// selector.
func (s Selector) String() string {
	var b strings.Builder
	for i, r := range s.reqs {
		if i > 0 {
			b.WriteByte(',')
		}
		switch r.op {
		case opEq:
			op := "="
			if strings.HasPrefix(r.value, "=") {
				op = "==" // or the value's '=' would read as part of "=="
			}
			b.WriteString(r.key + op + r.value)
		case opNe:
			b.WriteString(r.key + "!=" + r.value)
		case opExists:
			b.WriteString(r.key)
		case opNotExists:
			b.WriteString("!" + r.key)
		}
	}
	return b.String()
}
