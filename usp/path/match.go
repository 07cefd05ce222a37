package path

import (
	"strings"

	"cuttle/usp/usperr"
)

// Match reports whether the concrete path falls under pattern; see
// Path.Matches. The pattern may be an instantiated path (with "*" and search
// expressions) or a supported-data-model path (with "{i}"). The concrete path
// must use instance numbers only. An error is a *usperr.Error with code
// usperr.InvalidPath for whichever of the two does not parse.
func Match(pattern, concrete string) (bool, error) {
	pat, err := Parse(pattern)
	if err != nil {
		// Only retry when the supported form could help, so that errors in
		// ordinary paths are reported by the instantiated grammar.
		if !strings.Contains(pattern, "{i}") {
			return false, err
		}
		if pat, err = ParseSupported(pattern); err != nil {
			return false, err
		}
	}
	c, err := parseConcrete(concrete)
	if err != nil {
		return false, err
	}
	return pat.Matches(c), nil
}

func parseConcrete(s string) (*Path, error) {
	c, err := Parse(s)
	if err != nil {
		return nil, err
	}
	if !c.isConcrete() {
		return nil, usperr.AtPath(usperr.InvalidPath, s, "not a concrete path: wildcards, search expressions and reference following cannot be matched against a pattern")
	}
	return c, nil
}

// Matches reports whether concrete, a path with instance numbers only,
// falls under the pattern p, comparing segment by segment: names must be
// equal, an instance number matches the same number, and "*", "{i}" and
// search expressions match any instance number (expressions are evaluated by
// MatchFunc, not here). A partial (object) pattern matches the object itself
// and everything below it, so "Device.WiFi." matches
// "Device.WiFi.SSID.1.Enable" but not "Device.WiFiX.Foo". A parameter,
// command or event pattern matches only a path of the same kind and length.
//
// A pattern that follows references matches nothing, because where a
// reference leads is only known to the data model; resolve it first.
// Matches is false when concrete is not concrete.
func (p *Path) Matches(concrete *Path) bool {
	if !concrete.isConcrete() {
		return false
	}
	return p.matchShape(concrete)
}

// matchShape is Matches without the concreteness check.
func (p *Path) matchShape(c *Path) bool {
	n := len(p.Segments)
	if p.kind == Object {
		// An object pattern covers itself and deeper paths; a parameter of
		// the same length ("Device.WiFi" against "Device.WiFi.") is a
		// sibling, not a descendant.
		if len(c.Segments) < n || (len(c.Segments) == n && c.kind != Object) {
			return false
		}
	} else if c.kind != p.kind || len(c.Segments) != n {
		return false
	}
	for i := 0; i < n; i++ {
		ps, cs := &p.Segments[i], &c.Segments[i]
		switch ps.Kind {
		case SegName:
			if cs.Kind != SegName || cs.Name != ps.Name || ps.Ref != RefNone {
				return false
			}
		case SegInstance:
			if cs.Kind != SegInstance || cs.Instance != ps.Instance {
				return false
			}
		default: // wildcard, expression or placeholder
			if cs.Kind != SegInstance {
				return false
			}
		}
	}
	return true
}

// MatchFunc is Matches with search expressions evaluated. For each
// expression segment of p, lookup is called with the object instance path
// of concrete at that depth (such as "Device.WiFi.SSID.3.") and each
// condition's relative parameter path as written (such as "Stats.ErrorsSent"
// or "SSIDReference+.SSID"; following references is left to lookup), and
// returns the parameter's value; false means the parameter does not exist
// and makes the condition false. A nil lookup finds nothing. The error is a
// *usperr.Error with code usperr.InvalidPath when concrete is not a concrete
// path.
func (p *Path) MatchFunc(concrete *Path, lookup func(objPath, relParam string) (string, bool)) (bool, error) {
	if !concrete.isConcrete() {
		return false, usperr.AtPath(usperr.InvalidPath, concrete.String(), "not a concrete path: wildcards, search expressions and reference following cannot be matched against a pattern")
	}
	if !p.matchShape(concrete) {
		return false, nil
	}
	for i := range p.Segments {
		if p.Segments[i].Kind != SegExpr {
			continue
		}
		if lookup == nil {
			return false, nil
		}
		obj := (&Path{Segments: concrete.Segments[:i+1], kind: Object}).format(false)
		get := func(rel string) (string, bool) { return lookup(obj, rel) }
		if !p.Segments[i].Expr.Eval(get) {
			return false, nil
		}
	}
	return true, nil
}
