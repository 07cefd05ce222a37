package agent

import (
	"strconv"
	"strings"

	"cuttle/devices/tr181"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// resolved is what an object path (or the object part of a parameter,
// command or event path) addresses in the instantiated data model.
type resolved struct {
	// obj is the schema of the addressed object.
	obj *tr181.Object
	// table is set when the path stops at a table without choosing
	// instances ("Device.WiFi.SSID."): nodes are then the table's parents.
	table bool
	// nodes are the addressed instances (or, with table, the parents).
	nodes []*node
	// search is set when the path has a wildcard or a search expression
	// other than unique-key addressing, so that matching nothing is not an
	// error (R-MSG.4a).
	search bool
}

// instances returns the addressed instances; for a table, all its rows.
func (r resolved) instances() []*node {
	if !r.table {
		return r.nodes
	}
	var out []*node
	for _, n := range r.nodes {
		out = append(out, n.rows(r.obj)...)
	}
	return out
}

// resolve walks the first nseg segments of p through the data model. It
// fails with InvalidPath (7026) when they leave the supported data model, and
// with ObjectDoesNotExist (7016) when a path without searches names an
// instance that does not exist; each handler turns the latter into the code
// its message needs.
func (a *Agent) resolve(p *path.Path, nseg int) (resolved, *usperr.Error) {
	segs := p.Segments[:nseg]
	s := dm()
	r := resolved{obj: s.root, nodes: []*node{a.root}}
	if len(segs) == 0 || segs[0].Kind != path.SegName || segs[0].Name != s.root.Name || segs[0].Ref != path.RefNone {
		return r, notSupported(p, "the data model's root is %q", s.root.Path)
	}
	for i := 1; i < len(segs); i++ {
		seg := &segs[i]
		if seg.Ref != path.RefNone {
			return r, notSupported(p, "following references (%q) is only supported inside search expressions", seg.String())
		}
		if seg.Kind == path.SegName {
			if r.table {
				return r, notSupported(p, "%s is a table: an instance number, \"*\" or a search expression must follow it", r.obj.Path)
			}
			c := r.obj.Child(seg.Name)
			if c == nil {
				return r, notSupported(p, "%s has no object %q", r.obj.Path, seg.Name)
			}
			r.obj = c
			if c.MultiInstance {
				r.table = true
				continue
			}
			for j, n := range r.nodes {
				r.nodes[j] = n.kids[c.ChildIndex].rows[0]
			}
			continue
		}
		if !r.table {
			return r, notSupported(p, "%s is not a table, so it has no instances", r.obj.Path)
		}
		var next []*node
		switch seg.Kind {
		case path.SegInstance:
			for _, parent := range r.nodes {
				if row := parent.row(r.obj, uint32(seg.Instance)); row != nil {
					next = append(next, row)
				}
			}
		case path.SegWildcard:
			r.search = true
			for _, parent := range r.nodes {
				next = append(next, parent.rows(r.obj)...)
			}
		case path.SegExpr:
			if err := validateExpr(seg.Expr, r.obj); err != "" {
				return r, notSupported(p, "search expression %s: %s", seg.Expr, err)
			}
			if !isUniqueKey(seg.Expr, r.obj) {
				r.search = true
			}
			for _, parent := range r.nodes {
				for _, row := range parent.rows(r.obj) {
					if a.evalExpr(seg.Expr, row) {
						next = append(next, row)
					}
				}
			}
		default:
			return r, notSupported(p, "%q is not an instance identifier of the instantiated data model", seg.String())
		}
		if len(next) == 0 && !r.search {
			return r, usperr.AtPath(usperr.ObjectDoesNotExist, p.Raw(), "%s does not exist",
				(&path.Path{Segments: segs[:i+1]}).String())
		}
		r.nodes, r.table = next, false
	}
	return r, nil
}

func notSupported(p *path.Path, format string, args ...any) *usperr.Error {
	return usperr.AtPath(usperr.InvalidPath, p.Raw(), format, args...)
}

// isUniqueKey reports whether e is unique-key addressing for table t: "=="
// on exactly the parameters of one of its unique key sets. Such a path
// addresses one instance, so it is not a search.
func isUniqueKey(e *path.Expr, t *tr181.Object) bool {
	if !e.IsUniqueKey() {
		return false
	}
	for _, ks := range t.UniqueKeys {
		if len(ks) != len(e.Conds) {
			continue
		}
		all := true
		for _, k := range ks {
			found := false
			for _, c := range e.Conds {
				found = found || c.Path == k
			}
			all = all && found
		}
		if all {
			return true
		}
	}
	return false
}

// validateExpr checks that every parameter an expression names exists in
// table t (through single-instance sub-objects), returning what is wrong or
// "". Conditions that follow references are checked when evaluated.
func validateExpr(e *path.Expr, t *tr181.Object) string {
	for _, c := range e.Conds {
		if strings.ContainsAny(c.Path, "+#") {
			continue
		}
		o := t
		parts := strings.Split(c.Path, ".")
		for i, part := range parts {
			if i == len(parts)-1 {
				if o.Param(part) == nil {
					return o.Path + " has no parameter " + strconv.Quote(part)
				}
				break
			}
			child := o.Child(part)
			if child == nil || child.MultiInstance {
				return o.Path + " has no single-instance object " + strconv.Quote(part)
			}
			o = child
		}
	}
	return ""
}

// evalExpr reports whether row satisfies e.
func (a *Agent) evalExpr(e *path.Expr, row *node) bool {
	return e.Eval(func(rel string) (string, bool) { return a.lookupRel(row, rel) })
}

// lookupRel reads a parameter relative to n, such as "Enable",
// "Stats.BytesSent" or "SSIDReference+.SSID".
func (a *Agent) lookupRel(n *node, rel string) (string, bool) {
	for {
		part, rest, more := strings.Cut(rel, ".")
		if !more {
			p := n.obj.Param(part)
			if p == nil {
				return "", false
			}
			return n.read(p), true
		}
		if strings.HasSuffix(part, "+") {
			target := a.followRef(n, part)
			if target == nil {
				return "", false
			}
			n = target
		} else {
			c := n.child(part)
			if c == nil {
				return "", false
			}
			n = c
		}
		rel = rest
	}
}

// followRef follows a reference such as "SSIDReference+" or
// "LowerLayers#2+" from n, returning nil when it leads nowhere. Following
// every item ("#*+") is not supported and leads nowhere.
func (a *Agent) followRef(n *node, part string) *node {
	name := strings.TrimSuffix(part, "+")
	item := 1
	if i := strings.IndexByte(name, '#'); i >= 0 {
		k, err := strconv.Atoi(name[i+1:])
		if err != nil || k < 1 {
			return nil
		}
		name, item = name[:i], k
	}
	p := n.obj.Param(name)
	if p == nil {
		return nil
	}
	items := strings.Split(n.vals[p.Index], ",")
	if item > len(items) {
		return nil
	}
	return a.nodeAt(items[item-1])
}

// nodeAt returns the instance a reference value names, e.g.
// "Device.WiFi.SSID.1", or nil.
func (a *Agent) nodeAt(ref string) *node {
	p, err := path.Parse(refPath(ref))
	if err != nil || p.Kind() != path.Object || p.IsSearch() {
		return nil
	}
	r, uerr := a.resolve(p, len(p.Segments))
	if uerr != nil || r.table || len(r.nodes) != 1 {
		return nil
	}
	return r.nodes[0]
}
