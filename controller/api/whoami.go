package api

import (
	"net/http"
	"time"

	"cuttle/controller/auth"
)

// whoamiResponse describes the token a request authenticated with, so a
// client such as the web console can show who is signed in and hide what
// the role may not do.
type whoamiResponse struct {
	TokenID string    `json:"token_id"`
	Name    string    `json:"name"`
	Role    auth.Role `json:"role"`
	// Actions are the actions the role allows, in auth.Actions order.
	Actions []auth.Action `json:"actions"`
	// ExpiresAt is null for a token that never expires.
	ExpiresAt *time.Time `json:"expires_at"`
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	t, ok := auth.FromContext(r.Context())
	if !ok {
		// auth.Require let the request through, so this cannot happen.
		return &Error{Status: http.StatusUnauthorized, Type: TypeUnauthorized, Title: "Unauthorized"}
	}
	out := whoamiResponse{TokenID: t.ID, Name: t.Name, Role: t.Role, Actions: []auth.Action{}}
	for _, act := range auth.Actions() {
		if t.Role.Allows(act) {
			out.Actions = append(out.Actions, act)
		}
	}
	if !t.Expires.IsZero() {
		exp := t.Expires.UTC()
		out.ExpiresAt = &exp
	}
	return WriteJSON(w, http.StatusOK, out)
}
