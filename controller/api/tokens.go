package api

import (
	"fmt"
	"net/http"
	"time"

	"cuttle/controller/auth"
)

type createTokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// TTL is the token's lifetime; 0 or absent means it never expires.
	TTL Duration `json:"ttl"`
}

type createTokenResponse struct {
	Token auth.Token `json:"token"`
	// Secret is the bearer token, shown this once.
	Secret string `json:"secret"`
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var bad []FieldError
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		bad = append(bad, FieldError{Field: "role", Message: "must be admin, operator or viewer"})
	}
	if req.Name == "" {
		bad = append(bad, FieldError{Field: "name", Message: "a name is required"})
	}
	if req.TTL < 0 {
		bad = append(bad, FieldError{Field: "ttl", Message: "must not be negative"})
	}
	if len(bad) > 0 {
		return Invalid(bad...)
	}
	by, _ := auth.FromContext(r.Context())
	auth.SetAuditSummary(r.Context(), fmt.Sprintf("created token %s (%s)", req.Name, role))
	t, secret, err := a.cfg.Auth.Create(r.Context(), req.Name, role, by.Name, time.Duration(req.TTL))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, createTokenResponse{Token: t, Secret: secret})
}

type tokensResponse struct {
	Tokens []auth.Token `json:"tokens"`
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	list, err := a.cfg.Auth.List(r.Context())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, tokensResponse{Tokens: nonNilSlice(list)})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	auth.SetAuditSummary(r.Context(), "revoked token "+id)
	if err := a.cfg.Auth.Revoke(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type auditResponse struct {
	Entries []auth.AuditEntry `json:"entries"`
}

func (a *API) auditLog(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, []string{"since", "limit"})
	if err != nil {
		return err
	}
	since, err := timeParam(q, "since", time.Now())
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	if limit > auth.MaxAuditLimit {
		return Invalid(FieldError{Field: "limit", Message: fmt.Sprintf("at most %d", auth.MaxAuditLimit)})
	}
	entries, err := a.cfg.Auth.AuditLog(r.Context(), since, limit)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, auditResponse{Entries: nonNilSlice(entries)})
}
