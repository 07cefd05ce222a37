package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"cuttle/broker/creds"
)

// credsBackend is where `cuttle creds` manages credentials: the broker's
// store in NATS KV itself (factory and provisioning scripts that reach
// NATS, and a local `cuttle up` with no flags), or a controller's REST API
// (operators who reach only the API, with an admin token). Both change the
// same store, which the brokers mirror.
type credsBackend interface {
	add(ctx context.Context, req creds.AddRequest) (credView, string, error)
	list(ctx context.Context) ([]credView, error)
	setDisabled(ctx context.Context, username string, disabled bool) error
	remove(ctx context.Context, username string) error
	// rotate gives the credential a new generated secret and returns it.
	rotate(ctx context.Context, username string) (credView, string, error)
	revokeCert(ctx context.Context, spec, reason string) error
	unrevokeCert(ctx context.Context, spec string) error
	listRevoked(ctx context.Context) ([]creds.Revocation, error)
}

// credView is a credential as the CLI prints it, whichever backend it
// came from: everything but the secret's hash. Its JSON is what
// `creds ls -o json` prints for each credential.
type credView struct {
	Username   string     `json:"username"`
	EndpointID string     `json:"endpoint_id"`
	Role       creds.Role `json:"role"`
	Disabled   bool       `json:"disabled"`
	// SecretKind is "token" for a generated secret, "password" for a
	// chosen one.
	SecretKind string    `json:"secret_kind"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

func viewOf(c creds.Credential) credView {
	return credView{Username: c.Username, EndpointID: c.EndpointID, Role: c.Role, Disabled: c.Disabled,
		SecretKind: c.SecretKind(), Created: c.Created, Updated: c.Updated}
}

// natsCreds is the store in NATS KV.
type natsCreds struct{ store *creds.Store }

func (n natsCreds) add(ctx context.Context, req creds.AddRequest) (credView, string, error) {
	c, secret, err := n.store.Add(ctx, req)
	return viewOf(c), secret, err
}

func (n natsCreds) list(ctx context.Context) ([]credView, error) {
	list, err := n.store.List(ctx)
	out := make([]credView, 0, len(list))
	for _, c := range list {
		out = append(out, viewOf(c))
	}
	return out, err
}

func (n natsCreds) setDisabled(ctx context.Context, username string, disabled bool) error {
	return n.store.SetDisabled(ctx, username, disabled)
}

func (n natsCreds) remove(ctx context.Context, username string) error {
	return n.store.Remove(ctx, username)
}

func (n natsCreds) rotate(ctx context.Context, username string) (credView, string, error) {
	secret, err := n.store.RotateSecret(ctx, username)
	if err != nil {
		return credView{}, "", err
	}
	c, err := n.store.Get(ctx, username)
	return viewOf(c), secret, err
}

func (n natsCreds) revokeCert(ctx context.Context, spec, reason string) error {
	return n.store.RevokeCert(ctx, spec, reason)
}

func (n natsCreds) unrevokeCert(ctx context.Context, spec string) error {
	return n.store.UnrevokeCert(ctx, spec)
}

func (n natsCreds) listRevoked(ctx context.Context) ([]creds.Revocation, error) {
	return n.store.ListRevoked(ctx)
}

// apiCreds is a controller's /api/v1/credentials routes.
type apiCreds struct{ api *apiClient }

const credentialsPath = "/api/v1/credentials"

// secretResponse is the API's answer to a create or a rotation.
type secretResponse struct {
	Credential credView `json:"credential"`
	Secret     string   `json:"secret"`
}

func (a apiCreds) add(ctx context.Context, req creds.AddRequest) (credView, string, error) {
	body := map[string]string{"role": string(req.Role), "endpoint_id": req.EndpointID, "username": req.Username, "password": req.Secret}
	var out secretResponse
	_, err := a.api.doJSON(ctx, http.MethodPost, credentialsPath, nil, body, &out)
	return out.Credential, out.Secret, err
}

func (a apiCreds) list(ctx context.Context) ([]credView, error) {
	var out struct {
		Credentials []credView `json:"credentials"`
	}
	_, err := a.api.doJSON(ctx, http.MethodGet, credentialsPath, nil, nil, &out)
	return out.Credentials, err
}

func (a apiCreds) setDisabled(ctx context.Context, username string, disabled bool) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	_, err := a.api.do(ctx, http.MethodPost, credentialsPath+"/"+escapeID(username)+"/"+verb, nil, nil)
	return err
}

func (a apiCreds) remove(ctx context.Context, username string) error {
	_, err := a.api.do(ctx, http.MethodDelete, credentialsPath+"/"+escapeID(username), nil, nil)
	return err
}

func (a apiCreds) rotate(ctx context.Context, username string) (credView, string, error) {
	var out secretResponse
	_, err := a.api.doJSON(ctx, http.MethodPost, credentialsPath+"/"+escapeID(username)+"/rotate", nil, nil, &out)
	return out.Credential, out.Secret, err
}

func (a apiCreds) revokeCert(ctx context.Context, spec, reason string) error {
	_, err := a.api.do(ctx, http.MethodPost, credentialsPath+"/revoke-cert", nil, map[string]string{"spec": spec, "reason": reason})
	return err
}

func (a apiCreds) unrevokeCert(ctx context.Context, spec string) error {
	_, err := a.api.do(ctx, http.MethodPost, credentialsPath+"/unrevoke-cert", nil, map[string]string{"spec": spec})
	return err
}

func (a apiCreds) listRevoked(ctx context.Context) ([]creds.Revocation, error) {
	var out struct {
		Revoked []creds.Revocation `json:"revoked"`
	}
	_, err := a.api.doJSON(ctx, http.MethodGet, credentialsPath+"/revoked", nil, nil, &out)
	return out.Revoked, err
}

// useAPI says whether the command line, then the environment, chose a
// controller's API over NATS: --server over --nats/--nats-user, and
// CUTTLE_SERVER when no NATS setting is given in either. Naming both on
// the command line is a usage error.
func (n *credsNATS) useAPI(fs *flag.FlagSet, getenv func(string) string) (bool, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	n.dataSet = set["data"]
	natsFlag := set["nats"] || set["nats-user"] || set["nats-password"]
	switch {
	case set["server"] && natsFlag:
		return false, usageError(fs, "give --server (the API) or --nats (NATS KV), not both")
	case set["server"]:
		return true, nil
	case natsFlag:
		return false, nil
	}
	return getenv("CUTTLE_SERVER") != "" && getenv("CUTTLE_NATS_URL") == "" && getenv("CUTTLE_NATS_USER") == "", nil
}

// withBackend opens the backend the flags choose, runs fn with it and
// closes it.
func (c credsCLI) withBackend(ctx context.Context, n *credsNATS, fn func(credsBackend) error) error {
	api, err := n.useAPI(n.fs, c.getenv)
	if err != nil {
		return err
	}
	if !api {
		return n.withStore(ctx, func(s *creds.Store) error { return fn(natsCreds{s}) })
	}
	cf := &connFlags{server: n.server, token: n.token}
	if n.dataSet {
		cf.data = n.dataDir
	}
	cl, err := (&apiCLI{stdout: c.stdout, stderr: c.stderr, getenv: c.getenv}).client(cf)
	if err != nil {
		return err
	}
	err = fn(apiCreds{cl})
	var noRoute *apiError
	if errors.As(err, &noRoute) && noRoute.Status == http.StatusMethodNotAllowed {
		return fmt.Errorf("%w (the controller at %s may be older than this CLI; use --nats)", err, cl.base)
	}
	return err
}
