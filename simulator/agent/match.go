package agent

import (
	"cuttle/usp/path"
)

// maxDepth bounds the object nesting of the data model (Device.LocalAgent.
// Controller.{i}.MTP.{i}.MQTT. is the deepest at 6 nodes).
const maxDepth = 12

// step is one segment of a concrete path built from the tree: an object
// name, or an instance number with its node.
type step struct {
	name string
	row  *node // set for an instance step
}

// steps writes the concrete segments of n's path into buf.
func steps(n *node, buf *[2 * maxDepth]step) []step {
	var chain [maxDepth]*node
	d := 0
	for x := n; x != nil && d < maxDepth; x = x.parent {
		chain[d] = x
		d++
	}
	out := buf[:0]
	for i := d - 1; i >= 0; i-- {
		x := chain[i]
		out = append(out, step{name: x.obj.Name})
		if x.obj.MultiInstance {
			out = append(out, step{row: x})
		}
	}
	return out
}

// matches reports whether a subscription's reference path ref covers an
// element of node n: the object itself (kind path.Object, name ""), or its
// parameter, command or event called name (without "()" or "!"). An object
// reference covers everything below it; a search expression in ref is
// evaluated against the instance it meets.
func (a *Agent) matches(ref *path.Path, n *node, kind path.Kind, name string) bool {
	var buf [2 * maxDepth]step
	c := steps(n, &buf)
	if name != "" {
		c = append(c, step{name: name})
	}
	segs := ref.Segments
	if ref.Kind() == path.Object {
		// A partial path covers itself and what is below it; an object
		// reference does not cover a parameter of the same length.
		if len(segs) > len(c) || (len(segs) == len(c) && kind != path.Object) {
			return false
		}
	} else if ref.Kind() != kind || len(segs) != len(c) {
		return false
	}
	for i := range segs {
		rs, cs := &segs[i], c[i]
		switch rs.Kind {
		case path.SegName:
			if cs.row != nil || cs.name != rs.Name || rs.Ref != path.RefNone {
				return false
			}
		case path.SegInstance:
			if cs.row == nil || cs.row.num != uint32(rs.Instance) {
				return false
			}
		case path.SegWildcard, path.SegPlaceholder:
			if cs.row == nil {
				return false
			}
		case path.SegExpr:
			if cs.row == nil || !a.evalExpr(rs.Expr, cs.row) {
				return false
			}
		}
	}
	return true
}
