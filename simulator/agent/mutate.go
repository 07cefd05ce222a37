package agent

import (
	"slices"
	"strconv"

	"cuttle/devices/tr181"
	"cuttle/usp"
)

// Every change to a live instance goes through set, addRow or deleteRow, so
// that value-change and object notifications, NumberOfEntries counters,
// cached state and transactions are kept in step in one place.

// set changes a parameter's value, notifying ValueChange subscribers when it
// really changes (R-NOT: changes a Controller caused itself included).
func (a *Agent) set(n *node, p *tr181.Param, v string) {
	old := n.vals[p.Index]
	if old == v {
		return
	}
	n.vals[p.Index] = v
	if a.inTx {
		a.undo = append(a.undo, func() { n.vals[p.Index] = old })
	}
	a.touched(n)
	if p.ValueChange != usp.ValueChangeWillIgnore && !p.Hidden {
		a.valueChanged(n, p, v)
	}
}

// setName is set by parameter name.
func (a *Agent) setName(n *node, name, v string) {
	p := n.obj.Param(name)
	if p == nil {
		panic("agent: " + n.obj.Path + " has no parameter " + name) // a typo in this package
	}
	a.set(n, p, v)
}

// addRow appends a new row with the next instance number to table t under
// parent. The caller fills it in and then calls created.
func (a *Agent) addRow(parent *node, t *tr181.Object) *node {
	k := &parent.kids[t.ChildIndex]
	k.last++
	row := newNode(t, parent, k.last)
	k.rows = append(k.rows, row) // the newest number is the largest
	if a.inTx {
		a.undo = append(a.undo, func() {
			k.rows = slices.DeleteFunc(k.rows, func(r *node) bool { return r == row })
			k.last--
		})
	}
	a.countChanged(parent, t)
	a.touched(row)
	return row
}

// created announces a new row to ObjectCreation subscribers.
func (a *Agent) created(row *node) {
	a.notifyObject(notifObjectCreation, row)
}

// deleteRow removes a row and everything below it. With notify, ObjectDeletion
// subscribers hear about it and about every row below it.
func (a *Agent) deleteRow(row *node, notify bool) {
	parent := row.parent
	k := &parent.kids[row.obj.ChildIndex]
	i := slices.Index(k.rows, row)
	if i < 0 {
		return
	}
	if notify {
		// Children first, as they go first.
		var rows []*node
		row.walk(func(n *node) bool {
			if n.obj.MultiInstance {
				rows = append(rows, n)
			}
			return true
		})
		for j := len(rows) - 1; j >= 0; j-- {
			a.notifyObject(notifObjectDeletion, rows[j])
		}
	}
	k.rows = slices.Delete(k.rows, i, i+1)
	if a.inTx {
		a.undo = append(a.undo, func() { k.rows = slices.Insert(k.rows, i, row) })
	}
	a.countChanged(parent, row.obj)
	a.touched(row)
}

// countChanged keeps the parent's <Table>NumberOfEntries in step.
func (a *Agent) countChanged(parent *node, t *tr181.Object) {
	if t.CountParam != nil {
		a.set(parent, t.CountParam, strconv.Itoa(len(parent.kids[t.ChildIndex].rows)))
	}
}

// touched invalidates what is derived from n's table.
func (a *Agent) touched(n *node) {
	s := dm()
	for o := n.obj; o != nil; o = o.Parent {
		switch o {
		case s.subscription:
			a.subsDirty = true
			return
		case s.controller:
			a.subsDirty = true
			a.periodicDirty = true
			return
		case s.root:
			return
		}
	}
}

// begin starts a transaction: until end, every change can be reverted.
func (a *Agent) begin() {
	a.inTx = true
	a.undo = a.undo[:0]
}

// end finishes the transaction, keeping its changes.
func (a *Agent) end() {
	a.inTx = false
	a.undo = nil
}

// savepoint marks the state of the current transaction.
type savepoint struct{ undo, out int }

func (a *Agent) mark() savepoint { return savepoint{len(a.undo), len(a.out)} }

// rollbackTo reverts every change since sp and drops the notifications they
// caused.
func (a *Agent) rollbackTo(sp savepoint) {
	for i := len(a.undo) - 1; i >= sp.undo; i-- {
		a.undo[i]()
	}
	a.undo = a.undo[:sp.undo]
	a.out = a.out[:sp.out]
	a.subsDirty = true
	a.periodicDirty = true
}
