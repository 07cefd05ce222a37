// Package auth authenticates and authorises the people and scripts that use
// the controller's REST API, and records what they change.
//
// Operators present bearer tokens ("cut_<id>_<secret>"). Tokens live in a
// NATS KV bucket, hashed; every controller replica holds them in memory,
// kept current by a KV watch, so Authenticate does no I/O and a revocation
// reaches every replica within moments. Each token has a Role, and each API
// route requires an Action that the role must allow. Every mutating call is
// written to an audit stream: who, what, when and how it ended.
//
// The API wires it as
//
//	mux.Handle("POST /api/v1/devices/{id}/set", auth.Require(auth.ActionOperate, h))
//	handler := store.Middleware(auth.AuditMiddleware(store, mux))
package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors. Operations wrap them with details; test with errors.Is.
var (
	// ErrUnauthorized means a secret is missing, malformed, unknown,
	// revoked or expired. Callers should not tell the client which.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound means no token has that ID.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means a request or stored value breaks a rule: an unknown
	// role, an empty name, a negative lifetime.
	ErrInvalid = errors.New("invalid")
)

// Role is what a token may do.
type Role string

// The roles, from most to least powerful.
const (
	// RoleAdmin may do everything, including managing device credentials,
	// API tokens, and reading the audit log.
	RoleAdmin Role = "admin"
	// RoleOperator manages devices: USP operations, labels, bulk jobs.
	RoleOperator Role = "operator"
	// RoleViewer only reads.
	RoleViewer Role = "viewer"
)

// Action is what an API route does, as far as permissions go. Routes pick
// the one action that describes them; roles allow sets of actions.
type Action string

// The actions.
const (
	// ActionRead reads: the inventory, events, jobs, and USP requests that
	// only read a device (Get, GetInstances, GetSupportedDM,
	// GetSupportedProtocol).
	ActionRead Action = "read"
	// ActionOperate changes a device through USP: Set, Add, Delete and
	// Operate (reboot, firmware download), one device or in bulk jobs.
	ActionOperate Action = "operate"
	// ActionManageDevices changes the inventory: labels, deleting a
	// device, cancelling jobs.
	ActionManageDevices Action = "manage-devices"
	// ActionAdmin manages who may do what: device credentials, API tokens,
	// and reading the audit log.
	ActionAdmin Action = "admin"
)

// permissions is the whole policy. It is a table rather than an ordering
// of roles so that a new role or action is one line, and the test of every
// pair reads like the table.
var permissions = map[Role][]Action{
	RoleAdmin:    {ActionRead, ActionOperate, ActionManageDevices, ActionAdmin},
	RoleOperator: {ActionRead, ActionOperate, ActionManageDevices},
	RoleViewer:   {ActionRead},
}

// Roles lists the roles, most powerful first.
func Roles() []Role { return []Role{RoleAdmin, RoleOperator, RoleViewer} }

// Actions lists the actions.
func Actions() []Action {
	return []Action{ActionRead, ActionOperate, ActionManageDevices, ActionAdmin}
}

// Allows reports whether r may perform a. Unknown roles and actions allow
// nothing.
func (r Role) Allows(a Action) bool {
	return slices.Contains(permissions[r], a)
}

// ParseRole parses a role name, ignoring case and surrounding space.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := permissions[r]; !ok {
		return "", fmt.Errorf("%w: role %q (want admin, operator or viewer)", ErrInvalid, s)
	}
	return r, nil
}
