package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"cuttle/broker/creds"
	"cuttle/controller/auth"
)

// credential is a broker credential as the API shows it: everything but
// the secret's hash.
type credential struct {
	Username   string     `json:"username"`
	Role       creds.Role `json:"role"`
	EndpointID string     `json:"endpoint_id,omitempty"`
	// SecretKind is "token" for a generated secret, "password" for a
	// chosen one.
	SecretKind string    `json:"secret_kind"`
	Disabled   bool      `json:"disabled"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

func credentialJSON(c creds.Credential) credential {
	return credential{Username: c.Username, Role: c.Role, EndpointID: c.EndpointID, SecretKind: c.SecretKind(),
		Disabled: c.Disabled, Created: c.Created, Updated: c.Updated}
}

type createCredentialRequest struct {
	Role       string `json:"role"`
	EndpointID string `json:"endpoint_id"`
	// Username defaults to the endpoint ID.
	Username string `json:"username"`
	// Password is a secret the user chose; empty means generate one.
	Password string `json:"password"`
}

type createCredentialResponse struct {
	Credential credential `json:"credential"`
	// Secret is the generated secret, shown this once; absent when the
	// request chose a password.
	Secret string `json:"secret,omitempty"`
}

func (a *API) createCredential(w http.ResponseWriter, r *http.Request) error {
	var req createCredentialRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var bad []FieldError
	role, err := creds.ParseRole(req.Role)
	if err != nil {
		bad = append(bad, FieldError{Field: "role", Message: "must be device, controller or admin"})
	}
	switch {
	case req.EndpointID != "":
		if err := creds.ValidEndpointID(req.EndpointID); err != nil {
			bad = append(bad, FieldError{Field: "endpoint_id", Message: strings.TrimPrefix(err.Error(), creds.ErrInvalid.Error()+": ")})
		}
	case role == creds.RoleDevice || role == creds.RoleController:
		bad = append(bad, FieldError{Field: "endpoint_id", Message: fmt.Sprintf("a %s credential needs an endpoint ID", role)})
	case role == creds.RoleAdmin && req.Username == "":
		bad = append(bad, FieldError{Field: "username", Message: "an admin credential needs a username"})
	}
	if req.Password != "" && utf8.RuneCountInString(req.Password) < creds.MinPasswordLen {
		bad = append(bad, FieldError{Field: "password", Message: fmt.Sprintf("must have at least %d characters (or be empty to generate a secret)", creds.MinPasswordLen)})
	}
	if len(bad) > 0 {
		return Invalid(bad...)
	}
	username := req.Username
	if username == "" {
		username = req.EndpointID
	}
	auth.SetAuditSummary(r.Context(), fmt.Sprintf("created %s credential %s", role, username))
	c, secret, err := a.creds.Add(r.Context(), creds.AddRequest{Username: req.Username, Role: role, EndpointID: req.EndpointID, Secret: req.Password})
	if err != nil {
		return err
	}
	out := createCredentialResponse{Credential: credentialJSON(c)}
	if req.Password == "" {
		out.Secret = secret
	}
	return WriteJSON(w, http.StatusCreated, out)
}

type credentialsResponse struct {
	Credentials []credential `json:"credentials"`
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	list, err := a.creds.List(r.Context())
	if err != nil {
		return err
	}
	out := credentialsResponse{Credentials: make([]credential, 0, len(list))}
	for _, c := range list {
		out.Credentials = append(out.Credentials, credentialJSON(c))
	}
	return WriteJSON(w, http.StatusOK, out)
}

func (a *API) disableCredential(w http.ResponseWriter, r *http.Request) error {
	return a.setDisabled(w, r, true)
}

func (a *API) enableCredential(w http.ResponseWriter, r *http.Request) error {
	return a.setDisabled(w, r, false)
}

// setDisabled disables or enables a credential; the broker disconnects a
// disabled one's sessions.
func (a *API) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	username := r.PathValue("username")
	verb := "enabled"
	if disabled {
		verb = "disabled"
	}
	auth.SetAuditSummary(r.Context(), verb+" credential "+username)
	if err := a.creds.SetDisabled(r.Context(), username, disabled); err != nil {
		return err
	}
	c, err := a.creds.Get(r.Context(), username)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, credentialJSON(c))
}

func (a *API) deleteCredential(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	auth.SetAuditSummary(r.Context(), "removed credential "+username)
	if err := a.creds.Remove(r.Context(), username); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateCredential gives a credential a new generated secret, shown this
// once; the old one stops working at once (the broker's live sessions
// stay connected until they reconnect, as after any change of secret).
func (a *API) rotateCredential(w http.ResponseWriter, r *http.Request) error {
	username := r.PathValue("username")
	auth.SetAuditSummary(r.Context(), "rotated the secret of credential "+username)
	secret, err := a.creds.RotateSecret(r.Context(), username)
	if err != nil {
		return err
	}
	c, err := a.creds.Get(r.Context(), username)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, createCredentialResponse{Credential: credentialJSON(c), Secret: secret})
}

// certSpec is the canonical form of a request's certificate spec, or the
// field error that says why it is not one.
func certSpec(s string) (string, error) {
	spec, err := creds.ParseCertSpec(s)
	if err != nil {
		return "", Invalid(FieldError{Field: "spec", Message: strings.TrimPrefix(err.Error(), creds.ErrInvalid.Error()+": ")})
	}
	return spec, nil
}

type revokeCertRequest struct {
	// Spec is "serial:<hex>" or "sha256:<hex>".
	Spec   string `json:"spec"`
	Reason string `json:"reason"`
}

func (a *API) revokeCert(w http.ResponseWriter, r *http.Request) error {
	var req revokeCertRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	spec, err := certSpec(req.Spec)
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), "revoked certificate "+spec)
	if err := a.creds.RevokeCert(r.Context(), spec, req.Reason); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, creds.Revocation{Spec: spec, Reason: req.Reason, Created: time.Now().UTC()})
}

type unrevokeCertRequest struct {
	// Spec is "serial:<hex>" or "sha256:<hex>".
	Spec string `json:"spec"`
}

// unrevokeCert accepts a revoked certificate again.
func (a *API) unrevokeCert(w http.ResponseWriter, r *http.Request) error {
	var req unrevokeCertRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	spec, err := certSpec(req.Spec)
	if err != nil {
		return err
	}
	auth.SetAuditSummary(r.Context(), "accepted certificate "+spec+" again")
	if err := a.creds.UnrevokeCert(r.Context(), spec); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type revokedResponse struct {
	Revoked []creds.Revocation `json:"revoked"`
}

func (a *API) listRevoked(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r, nil); err != nil {
		return err
	}
	list, err := a.creds.ListRevoked(r.Context())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, revokedResponse{Revoked: nonNilSlice(list)})
}
