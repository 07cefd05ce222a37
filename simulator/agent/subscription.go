package agent

import (
	"strconv"
	"strings"
	"time"

	"cuttle/devices/tr181"
	"cuttle/usp"
	"cuttle/usp/path"
	"cuttle/usp/usperr"
)

// notifKind is a Subscription's NotifType.
type notifKind uint8

const (
	notifValueChange notifKind = iota + 1
	notifObjectCreation
	notifObjectDeletion
	notifOperationComplete
	notifEvent
)

var notifKinds = map[string]notifKind{
	"ValueChange":       notifValueChange,
	"ObjectCreation":    notifObjectCreation,
	"ObjectDeletion":    notifObjectDeletion,
	"OperationComplete": notifOperationComplete,
	"Event":             notifEvent,
}

// sub is one row of Device.LocalAgent.Subscription, parsed. The rows stay
// the truth; subs are rebuilt from them whenever the table or the
// Controller table changes.
type sub struct {
	row  *node
	id   string
	ctrl *node  // the Recipient's Controller row; nil if it does not exist
	to   string // the Recipient's EndpointID
	kind notifKind
	refs []*path.Path
	// enabled is Enable; retry is NotifRetry.
	enabled, retry, persistent bool
	expiration, ttl            time.Duration
	created                    time.Time
}

// subscriptions returns the parsed Subscription table, rebuilding it if it
// changed.
func (a *Agent) subscriptions() []*sub {
	if !a.subsDirty {
		return a.subs
	}
	a.subsDirty = false
	a.hasVC = false
	s := dm()
	rows := a.root.child("LocalAgent").rows(s.subscription)
	subs := make([]*sub, 0, len(rows))
	for _, row := range rows {
		x := &sub{
			row:        row,
			id:         row.get("ID"),
			kind:       notifKinds[row.get("NotifType")],
			enabled:    row.get("Enable") == "true",
			retry:      row.get("NotifRetry") == "true",
			persistent: row.get("Persistent") == "true",
			expiration: seconds(row.get("NotifExpiration")),
			ttl:        seconds(row.get("TimeToLive")),
		}
		x.created, _ = time.Parse(time.RFC3339, row.get("CreationDate"))
		if c := a.nodeAt(row.get("Recipient")); c != nil && c.obj == s.controller {
			x.ctrl, x.to = c, c.get("EndpointID")
		}
		for _, item := range strings.Split(row.get("ReferenceList"), ",") {
			if p, err := path.Parse(strings.TrimSpace(item)); err == nil {
				x.refs = append(x.refs, p)
			}
		}
		if x.kind == notifValueChange && x.enabled {
			a.hasVC = true
		}
		subs = append(subs, x)
	}
	a.subs = subs
	return subs
}

func seconds(v string) time.Duration {
	n, _ := strconv.ParseUint(v, 10, 32)
	return time.Duration(n) * time.Second
}

// active reports whether s should notify now: enabled, for a known and
// enabled Controller. Disabled subscriptions are silent.
func (s *sub) active() bool {
	return s.enabled && s.ctrl != nil && s.ctrl.get("Enable") == "true"
}

// covers reports whether one of s's references covers the element.
func (a *Agent) covers(s *sub, n *node, kind path.Kind, name string) bool {
	for _, ref := range s.refs {
		if a.matches(ref, n, kind, name) {
			return true
		}
	}
	return false
}

// valueChanged notifies ValueChange subscribers of a new value.
func (a *Agent) valueChanged(n *node, p *tr181.Param, v string) {
	if !a.subsDirty && !a.hasVC {
		return
	}
	full := ""
	for _, s := range a.subscriptions() {
		if s.kind != notifValueChange || !s.active() || !a.covers(s, n, path.Parameter, p.Name) {
			continue
		}
		if full == "" {
			full = n.path() + p.Name
		}
		a.notify(s, &usp.ValueChange{Path: full, Value: v})
	}
}

// notifyObject notifies ObjectCreation or ObjectDeletion subscribers about a
// row.
func (a *Agent) notifyObject(kind notifKind, row *node) {
	var p string
	var keys map[string]string
	for _, s := range a.subscriptions() {
		if s.kind != kind || !s.active() || !a.covers(s, row, path.Object, "") {
			continue
		}
		if p == "" {
			p, keys = row.path(), row.uniqueKeys()
		}
		if kind == notifObjectCreation {
			a.notify(s, &usp.ObjectCreation{Path: p, UniqueKeys: keys})
		} else {
			a.notify(s, &usp.ObjectDeletion{Path: p})
		}
	}
}

// notifyOperation notifies OperationComplete subscribers that the command
// cmd (with its "()") on n finished.
func (a *Agent) notifyOperation(n *node, cmd, key string, output map[string]string, err *usperr.Error) {
	name := strings.TrimSuffix(cmd, "()")
	for _, s := range a.subscriptions() {
		if s.kind != notifOperationComplete || !s.active() || !a.covers(s, n, path.Command, name) {
			continue
		}
		oc := &usp.OperationComplete{ObjPath: n.path(), Command: cmd, CommandKey: key}
		if err != nil {
			oc.Err = err
		} else {
			oc.Output = output
			if oc.Output == nil {
				oc.Output = map[string]string{}
			}
		}
		a.notify(s, oc)
	}
}

// notifyEvent notifies Event subscribers that event ev (with its "!")
// happened on n. With only set, only that Controller's subscriptions count
// (Periodic! is per Controller). params builds the arguments for a
// recipient.
func (a *Agent) notifyEvent(n *node, ev string, only *node, params func(ctrl *node) map[string]string) {
	name := strings.TrimSuffix(ev, "!")
	for _, s := range a.subscriptions() {
		if s.kind != notifEvent || !s.active() || (only != nil && s.ctrl != only) || !a.covers(s, n, path.Event, name) {
			continue
		}
		a.notify(s, &usp.Event{ObjPath: n.path(), Name: ev, Params: params(s.ctrl)})
	}
}

// notify queues a Notify for s's Controller. With NotifRetry the Notify asks
// for a response and is retried until one comes (R-NOT.1).
func (a *Agent) notify(s *sub, n usp.Notification) {
	msg := usp.Message{ID: usp.NewMsgID(), Body: &usp.Notify{SubscriptionID: s.id, SendResp: s.retry, Notification: n}}
	o := outMsg{to: s.to, msg: msg}
	if s.retry {
		o.retry = &retry{to: s.to, msg: msg, sub: s.row, ctrl: s.ctrl, next: a.now.Add(a.retryWait(1, s.ctrl))}
		if s.expiration > 0 {
			o.retry.expires = a.now.Add(s.expiration)
		}
	}
	a.out = append(a.out, o)
}

// expireSubscriptions deletes subscriptions whose TimeToLive has passed,
// counted from their creation.
func (a *Agent) expireSubscriptions(now time.Time) {
	for _, s := range a.subscriptions() {
		if s.ttl > 0 && !s.created.IsZero() && !now.Before(s.created.Add(s.ttl)) && s.row.attached(a.root) {
			a.deleteRow(s.row, true)
		}
	}
}
