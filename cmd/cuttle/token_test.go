package main

import (
	"encoding/json"
	"strings"
	"testing"

	"cuttle/controller/auth"
)

func testTokens(t *testing.T, e *apiEnv) {
	var created struct {
		Token  tokenView `json:"token"`
		Secret string    `json:"secret"`
	}
	if err := json.Unmarshal([]byte(e.ok("token", "create", "--name", "ci", "--role", "viewer", "--ttl", "24h", "-o", "json")), &created); err != nil ||
		created.Secret == "" || created.Token.ID == "" || created.Token.Role != "viewer" || created.Token.Expires.IsZero() {
		t.Fatalf("token create -o json: %v %+v", err, created)
	}
	stdout, stderr, err := e.run("token", "create", "--name", "ops", "--role", "operator")
	if err != nil || !strings.HasPrefix(stdout, "ID ") || !strings.Contains(stdout, "SECRET") || !strings.Contains(stderr, "only this once") {
		t.Errorf("token create table: %v\n%s\n%s", err, stdout, stderr)
	}

	// The new token works, as a viewer.
	if _, _, err := e.runAs(created.Secret, "device", "ls", "-o", "id"); err != nil {
		t.Errorf("the new token: %v", err)
	}
	e.wantExitAs(created.Secret, exitUnauthorized, "device", "set", e.devices[0], "Device.WiFi.SSID.1.SSID=x")

	var list []tokenView
	if err := json.Unmarshal([]byte(e.ok("token", "ls", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tok := range list {
		found = found || tok.ID == created.Token.ID && tok.Name == "ci"
	}
	if !found {
		t.Errorf("token ls lacks ci: %+v", list)
	}
	if out := e.ok("token", "ls"); !regexpMatch(`(?m)^`+created.Token.ID+`\s+ci\s+viewer\s+active\s`, out) {
		t.Errorf("token ls table:\n%s", out)
	}

	if out := e.ok("token", "revoke", created.Token.ID); out != "revoked "+created.Token.ID+"\n" {
		t.Errorf("revoke: %q", out)
	}
	msg, _ := e.wantExitAs(created.Secret, exitUnauthorized, "device", "ls")
	if msg == "" {
		t.Error("no message for a revoked token")
	}
	if out := e.ok("token", "ls"); !regexpMatch(`(?m)^`+created.Token.ID+`\s+ci\s+viewer\s+revoked\s`, out) {
		t.Errorf("token ls after revoke:\n%s", out)
	}
	e.wantExit(exitNotFound, "token", "revoke", "no-such-token")
	e.wantExit(exitUsage, "token", "create", "--name", "x")
	e.wantExit(exitUsage, "token", "create", "--name", "x", "--role", "king")
	e.wantExitAs(e.tokens[auth.RoleOperator], exitUnauthorized, "token", "create", "--name", "x", "--role", "admin")
	e.wantExitAs(e.tokens[auth.RoleOperator], exitUnauthorized, "token", "ls")
}
