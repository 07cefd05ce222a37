package agent

import (
	"sort"
	"strconv"
	"strings"

	"cuttle/devices/tr181"
)

// node is one object instance of a device's instantiated data model: a
// single-instance object, or a row of a table. Its schema is shared by every
// device; only the values and the children are its own.
type node struct {
	obj    *tr181.Object
	parent *node
	// num is the instance number of a table row; 0 for a single-instance
	// object.
	num uint32
	// vals holds the parameter values, indexed by tr181.Param.Index.
	vals []string
	// kids holds the children, indexed by tr181.Object.ChildIndex: the one
	// node of a single-instance child, or the rows of a table.
	kids []kid
}

// kid is the content of one child object of a node.
type kid struct {
	// last is the highest instance number ever used in the table, so that
	// numbers are never reused (R-ARC.8).
	last uint32
	rows []*node // sorted by num
}

// newNode builds an instance of obj with default values and its
// single-instance sub-objects; it is not yet attached to parent.
func newNode(obj *tr181.Object, parent *node, num uint32) *node {
	n := &node{obj: obj, parent: parent, num: num}
	if len(obj.Params) > 0 {
		n.vals = make([]string, len(obj.Params))
		for i, p := range obj.Params {
			n.vals[i] = p.Default
		}
	}
	if len(obj.Children) > 0 {
		n.kids = make([]kid, len(obj.Children))
		for i, c := range obj.Children {
			if !c.MultiInstance {
				n.kids[i].rows = []*node{newNode(c, n, 0)}
			}
		}
	}
	return n
}

// child returns the single-instance sub-object called name; nil if there
// is none.
func (n *node) child(name string) *node {
	c := n.obj.Child(name)
	if c == nil || c.MultiInstance {
		return nil
	}
	return n.kids[c.ChildIndex].rows[0]
}

// rows returns the rows of the table t below n.
func (n *node) rows(t *tr181.Object) []*node { return n.kids[t.ChildIndex].rows }

// row returns the row of table t with instance number num, or nil.
func (n *node) row(t *tr181.Object, num uint32) *node {
	rows := n.kids[t.ChildIndex].rows
	i := sort.Search(len(rows), func(i int) bool { return rows[i].num >= num })
	if i < len(rows) && rows[i].num == num {
		return rows[i]
	}
	return nil
}

// get returns the value of the parameter called name ("" if there is none).
func (n *node) get(name string) string {
	if p := n.obj.Param(name); p != nil {
		return n.vals[p.Index]
	}
	return ""
}

// put stores a value without any of the bookkeeping of Agent.set; it is for
// building instances nobody can observe yet.
func (n *node) put(name, v string) {
	p := n.obj.Param(name)
	if p == nil {
		panic("agent: " + n.obj.Path + " has no parameter " + name) // a typo in this package
	}
	n.vals[p.Index] = v
}

// read returns a parameter's value as a Controller sees it: secrets read as
// "".
func (n *node) read(p *tr181.Param) string {
	if p.Hidden {
		return ""
	}
	return n.vals[p.Index]
}

// path returns the instance path with instance numbers, ending in ".", e.g.
// "Device.WiFi.SSID.2.".
func (n *node) path() string { return string(n.appendPath(make([]byte, 0, 48))) }

// ref returns the path as TR-181 reference parameters hold it: without the
// final ".", e.g. "Device.WiFi.SSID.2".
func (n *node) ref() string { p := n.path(); return p[:len(p)-1] }

func (n *node) appendPath(b []byte) []byte {
	if n.parent != nil {
		b = n.parent.appendPath(b)
	}
	b = append(b, n.obj.Name...)
	b = append(b, '.')
	if n.obj.MultiInstance {
		b = strconv.AppendUint(b, uint64(n.num), 10)
		b = append(b, '.')
	}
	return b
}

// attached reports whether n is still part of the tree under root.
func (n *node) attached(root *node) bool {
	for ; n.parent != nil; n = n.parent {
		found := false
		for _, r := range n.parent.kids[n.obj.ChildIndex].rows {
			if r == n {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return n == root
}

// uniqueKeys returns the values of every unique key parameter of a row.
func (n *node) uniqueKeys() map[string]string {
	names := n.obj.KeyNames()
	if len(names) == 0 {
		return nil
	}
	out := make(map[string]string, len(names))
	for _, k := range names {
		out[k] = n.get(k)
	}
	return out
}

// walk calls fn for n and every instance below it, parents first, and stops
// descending where fn returns false.
func (n *node) walk(fn func(*node) bool) {
	if !fn(n) {
		return
	}
	for i := range n.kids {
		for _, r := range n.kids[i].rows {
			r.walk(fn)
		}
	}
}

// refPath reads a reference list item such as "Device.WiFi.SSID.1" or
// "Device.WiFi.SSID.1." into a path ending in ".".
func refPath(ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasSuffix(ref, ".") {
		return ref
	}
	return ref + "."
}
