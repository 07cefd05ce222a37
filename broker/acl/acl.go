// Package acl decides which MQTT topics a USP client may subscribe and
// publish to. Rules match exact topics, never prefixes, and deny anything not
// allowed: a device reads only its own inbox and writes only to the inboxes
// of controllers that exist; a controller reads its own inbox (also through
// a shared subscription, for replicas) and writes to device inboxes; an admin
// may do anything. Every decision is a few string comparisons and one map
// lookup supplied by the caller: no I/O, because the broker asks on every
// delivery.
package acl

import "strings"

// Role is what a client is allowed to be.
type Role uint8

// The roles of the credential store.
const (
	RoleNone Role = iota // unauthenticated: nothing is allowed
	RoleDevice
	RoleController
	RoleAdmin
	// RoleLocal is a client of the loopback anonymous listener: trusted like
	// an admin, because only processes on this machine can reach it.
	RoleLocal
)

// Subject is the identity an ACL decision is about.
type Subject struct {
	Role Role
	// EndpointID is the USP endpoint ID bound to the credential.
	EndpointID string
}

// Rules holds the topic layout. The zero value is not usable; use New.
type Rules struct {
	agentPrefix      string // "<prefix>/agent/"
	controllerPrefix string // "<prefix>/controller/"
	// controllerExists reports whether a controller with this endpoint ID
	// is provisioned; devices may only write to those inboxes.
	controllerExists func(endpointID string) bool
}

// New returns the rules for topics under prefix (default "usp/v1").
// controllerExists must be an in-memory lookup.
func New(prefix string, controllerExists func(endpointID string) bool) *Rules {
	if prefix == "" {
		prefix = "usp/v1"
	}
	prefix = strings.TrimSuffix(prefix, "/")
	return &Rules{agentPrefix: prefix + "/agent/", controllerPrefix: prefix + "/controller/", controllerExists: controllerExists}
}

// AgentTopic returns the inbox of the agent with endpoint ID eid.
func (r *Rules) AgentTopic(eid string) string { return r.agentPrefix + eid }

// ControllerTopic returns the inbox of the controller with endpoint ID eid.
func (r *Rules) ControllerTopic(eid string) string { return r.controllerPrefix + eid }

// Inbox returns the topic s subscribes to and names as its reply-to topic,
// or "" for roles without one.
func (r *Rules) Inbox(s Subject) string {
	switch s.Role {
	case RoleDevice:
		return r.AgentTopic(s.EndpointID)
	case RoleController:
		return r.ControllerTopic(s.EndpointID)
	}
	return ""
}

// CanRead reports whether s may subscribe to filter, or receive a message
// published on the topic filter. Wildcards are never granted to devices or
// controllers: the filter must be their exact inbox (for a controller also
// "$share/<group>/<inbox>", so replicas can split the load).
func (r *Rules) CanRead(s Subject, filter string) bool {
	switch s.Role {
	case RoleAdmin, RoleLocal:
		return true
	case RoleDevice:
		return s.EndpointID != "" && isTopic(filter, r.agentPrefix, s.EndpointID)
	case RoleController:
		if s.EndpointID == "" {
			return false
		}
		if isTopic(filter, r.controllerPrefix, s.EndpointID) {
			return true
		}
		rest, ok := strings.CutPrefix(filter, "$share/")
		if !ok {
			return false
		}
		group, topic, ok := strings.Cut(rest, "/")
		return ok && validGroup(group) && isTopic(topic, r.controllerPrefix, s.EndpointID)
	}
	return false
}

// CanWrite reports whether s may publish to topic. Devices may publish only
// to the inbox of a controller that exists; controllers only to device
// inboxes (one level, no wildcards, no "/" inside).
func (r *Rules) CanWrite(s Subject, topic string) bool {
	switch s.Role {
	case RoleAdmin, RoleLocal:
		return true
	case RoleDevice:
		eid, ok := strings.CutPrefix(topic, r.controllerPrefix)
		return ok && s.EndpointID != "" && validLevel(eid) && r.controllerExists != nil && r.controllerExists(eid)
	case RoleController:
		eid, ok := strings.CutPrefix(topic, r.agentPrefix)
		return ok && s.EndpointID != "" && validLevel(eid)
	}
	return false
}

// MayRetain reports whether s may publish retained messages. USP never
// retains Records by default, and a retained message in a device's inbox
// would be replayed to whoever holds it next, so only admins and local
// clients may.
func (r *Rules) MayRetain(s Subject) bool { return s.Role == RoleAdmin || s.Role == RoleLocal }

// isTopic reports whether topic == prefix+eid without building the string:
// this runs on every delivery.
func isTopic(topic, prefix, eid string) bool {
	return len(topic) == len(prefix)+len(eid) && strings.HasPrefix(topic, prefix) && topic[len(prefix):] == eid
}

// validLevel reports whether s is one non-empty topic level without
// wildcards.
func validLevel(s string) bool {
	return s != "" && !strings.ContainsAny(s, "/+#\x00")
}

func validGroup(s string) bool { return validLevel(s) }
