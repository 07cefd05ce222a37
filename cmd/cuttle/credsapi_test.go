package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"cuttle/broker/creds"
	"cuttle/controller/auth"
)

// runCredsAPI runs `cuttle creds args...` with CUTTLE_SERVER pointing at
// e's API and CUTTLE_TOKEN set to token, as an operator who reaches only
// the API would.
func (e *apiEnv) runCredsAPI(token string, args ...string) (string, string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"CUTTLE_SERVER": e.srv.URL, "CUTTLE_TOKEN": token}
	c := credsCLI{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] }}
	err := c.run(e.t.Context(), args)
	return out.String(), errOut.String(), err
}

func (e *apiEnv) credsAPIOK(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.runCredsAPI(e.tokens[auth.RoleAdmin], args...)
	if err != nil {
		e.t.Fatalf("cuttle creds %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// TestCredsThroughAPI manages credentials through a controller's API
// (CUTTLE_SERVER), and checks every change in the broker's store in NATS
// KV, which the API writes to.
func TestCredsThroughAPI(t *testing.T) {
	e := newAPIEnv(t, 1)
	ctx := t.Context()
	const eid = "os::012345-API1"
	get := func() (creds.Credential, error) { return e.creds.Get(ctx, eid) }

	var added addOutput
	if err := json.Unmarshal([]byte(e.credsAPIOK("add", "--role", "device", "--endpoint-id", eid, "-o", "json")), &added); err != nil {
		t.Fatal(err)
	}
	c, err := get()
	if err != nil || added.Secret == "" || added.Username != eid || added.Role != "device" || !c.Verify(added.Secret) {
		t.Fatalf("add: printed %+v; store has %+v, %v", added, c, err)
	}

	var list []credView
	if err := json.Unmarshal([]byte(e.credsAPIOK("ls", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range list {
		if v.Username == eid {
			found = v.EndpointID == eid && v.Role == creds.RoleDevice && v.SecretKind == "token" && !v.Disabled && !v.Created.IsZero()
		}
	}
	if !found {
		t.Fatalf("ls -o json has no enabled token credential %s: %+v", eid, list)
	}

	if out := e.credsAPIOK("disable", eid); out != "disabled "+eid+"\n" {
		t.Errorf("disable printed %q", out)
	}
	if c, _ := get(); !c.Disabled {
		t.Error("disable through the API left the credential enabled")
	}
	e.credsAPIOK("enable", eid)
	if c, _ := get(); c.Disabled {
		t.Error("enable through the API left the credential disabled")
	}

	var rotated addOutput
	if err := json.Unmarshal([]byte(e.credsAPIOK("rotate", eid, "-o", "json")), &rotated); err != nil {
		t.Fatal(err)
	}
	if c, _ := get(); rotated.Secret == "" || c.Verify(added.Secret) || !c.Verify(rotated.Secret) {
		t.Fatalf("rotate: printed %+v; old secret verifies %v", rotated, c.Verify(added.Secret))
	}

	if out := e.credsAPIOK("revoke-cert", "serial:0A:BC:DE", "--reason", "stolen"); out != "revoked serial:0abcde\n" {
		t.Errorf("revoke-cert printed %q", out)
	}
	var revoked []creds.Revocation
	if err := json.Unmarshal([]byte(e.credsAPIOK("revoked", "-o", "json")), &revoked); err != nil || len(revoked) != 1 ||
		revoked[0].Spec != "serial:0abcde" || revoked[0].Reason != "stolen" {
		t.Fatalf("revoked -o json: %+v, %v", revoked, err)
	}
	e.credsAPIOK("unrevoke-cert", "serial:abcde")
	if list, err := e.creds.ListRevoked(ctx); err != nil || len(list) != 0 {
		t.Fatalf("after unrevoke-cert the store lists %+v, %v", list, err)
	}

	e.credsAPIOK("rm", eid)
	if _, err := get(); !errors.Is(err, creds.ErrNotFound) {
		t.Fatalf("after rm: %v", err)
	}

	// Exit statuses scripts rely on: 3 for what does not exist, 4 for a
	// token whose role may not manage credentials, 2 for a usage error.
	for _, tc := range []struct {
		token string
		args  []string
		code  int
	}{
		{e.tokens[auth.RoleAdmin], []string{"rm", eid}, exitNotFound},
		{e.tokens[auth.RoleAdmin], []string{"unrevoke-cert", "serial:abcde"}, exitNotFound},
		{e.tokens[auth.RoleOperator], []string{"ls"}, exitUnauthorized},
		{"not-a-token", []string{"add", "--role", "device", "--endpoint-id", "os::012345-API2"}, exitUnauthorized},
		{e.tokens[auth.RoleAdmin], []string{"ls", "--server", e.srv.URL, "--nats", "nats://127.0.0.1:4222"}, exitUsage},
	} {
		_, errOut, err := e.runCredsAPI(tc.token, tc.args...)
		if got := exitCode(err); got != tc.code {
			t.Errorf("creds %s: exit status %d (%v), want %d\nstderr: %s", strings.Join(tc.args, " "), got, err, tc.code, errOut)
		}
	}
	if _, err := e.creds.Get(ctx, "os::012345-API2"); !errors.Is(err, creds.ErrNotFound) {
		t.Errorf("an add with a bad token reached the store: %v", err)
	}
}
