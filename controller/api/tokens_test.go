package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"cuttle/controller/auth"
	"cuttle/internal/testutil"
)

func TestTokens(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1}})

	var created struct {
		Token  auth.Token `json:"token"`
		Secret string     `json:"secret"`
	}
	e.call(request{method: "POST", path: "/api/v1/tokens", body: map[string]any{"name": "ci", "role": "operator", "ttl": "720h"}},
		http.StatusCreated, &created)
	tok := created.Token
	if tok.ID == "" || tok.Name != "ci" || tok.Role != auth.RoleOperator || tok.CreatedBy != "admin" || created.Secret == "" ||
		time.Until(tok.Expires) < 719*time.Hour {
		t.Fatalf("created %+v", created)
	}

	t.Run("the new token works with its role", func(t *testing.T) {
		e.call(request{method: "GET", path: "/api/v1/devices", token: created.Secret}, http.StatusOK, nil)
		e.call(request{method: "PATCH", path: devicePath(dev1, "labels"), token: created.Secret,
			body: map[string]any{"set": map[string]string{"owner": "ci"}}}, http.StatusOK, nil)
		r := e.do(request{method: "GET", path: "/api/v1/tokens", token: created.Secret})
		wantProblem(t, r, http.StatusForbidden, "forbidden")
	})

	t.Run("list", func(t *testing.T) {
		r := e.call(request{method: "GET", path: "/api/v1/tokens"}, http.StatusOK, nil)
		var list struct {
			Tokens []map[string]any `json:"tokens"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, tk := range list.Tokens {
			found = found || tk["id"] == tok.ID
			if _, ok := tk["hash"]; ok {
				t.Errorf("token list shows a hash: %v", tk)
			}
		}
		if !found || len(list.Tokens) != 4 || strings.Contains(string(r.body), created.Secret) {
			t.Errorf("tokens %s, want the 3 roles' and ci's, without secrets", r.body)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"name": "x", "role": "root"}, "role"},
			{map[string]any{"role": "viewer"}, "name"},
			{map[string]any{"name": "x", "role": "viewer", "ttl": "-1h"}, "ttl"},
			{map[string]any{"name": "x", "role": "viewer", "ttl": "a while"}, "ttl"},
			{map[string]any{"name": "x", "role": "viewer", "scope": "all"}, "scope"},
		} {
			r := e.do(request{method: "POST", path: "/api/v1/tokens", token: e.tokens[auth.RoleAdmin], body: tc.body})
			if p := wantProblem(t, r, http.StatusBadRequest, "invalid-request"); len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("%v: %s, want an error for %q", tc.body, r.body, tc.field)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		e.call(request{method: "DELETE", path: "/api/v1/tokens/" + tok.ID}, http.StatusNoContent, nil)
		testutil.Eventually(t, 5*time.Second, "the revoked token to stop working", func() bool {
			return e.do(request{method: "GET", path: "/api/v1/devices", token: created.Secret}).status == http.StatusUnauthorized
		})
		r := e.do(request{method: "DELETE", path: "/api/v1/tokens/nosuchtoken", token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
	})

	t.Run("audit", func(t *testing.T) {
		// A denied attempt is audited too; reads, including USP reads, are not.
		r := e.do(request{method: "PATCH", path: devicePath(dev1, "labels"), token: e.tokens[auth.RoleViewer],
			body: map[string]any{"set": map[string]string{"x": "y"}}})
		wantProblem(t, r, http.StatusForbidden, "forbidden")
		e.call(request{method: "POST", path: devicePath(dev1, "get"), body: map[string]any{"paths": []string{"Device.DeviceInfo.UpTime"}}}, http.StatusOK, nil)
		e.call(request{method: "POST", path: devicePath(dev1, "set"), token: e.tokens[auth.RoleOperator], body: map[string]any{
			"objects": []any{map[string]any{"path": "Device.WiFi.SSID.1.", "params": map[string]string{"SSID": "audited"}}}}}, http.StatusOK, nil)

		var got struct {
			Entries []auth.AuditEntry `json:"entries"`
		}
		e.call(request{method: "GET", path: "/api/v1/audit?since=1h&limit=100"}, http.StatusOK, &got)
		var lines []string
		for _, en := range got.Entries {
			lines = append(lines, strings.Join([]string{en.TokenName, en.Method, en.Path, http.StatusText(en.Status), en.Summary}, " | "))
		}
		all := strings.Join(lines, "\n")
		for _, want := range []string{
			"admin | POST | /api/v1/tokens | Created | created token ci (operator)",
			"ci | PATCH | /api/v1/devices/" + dev1 + "/labels | OK | labels of " + dev1 + ": set 1, removed 0",
			"admin | DELETE | /api/v1/tokens/" + tok.ID + " | No Content | revoked token " + tok.ID,
			"viewer | PATCH | /api/v1/devices/" + dev1 + "/labels | Forbidden | ",
			"operator | POST | /api/v1/devices/" + dev1 + "/set | OK | set Device.WiFi.SSID.1.SSID on " + dev1,
		} {
			if !strings.Contains(all, want) {
				t.Errorf("audit log lacks %q:\n%s", want, all)
			}
		}
		if strings.Contains(all, "/get |") || strings.Contains(all, "| GET |") {
			t.Errorf("reads were audited:\n%s", all)
		}
		r = e.do(request{method: "GET", path: "/api/v1/audit?since=yesterday", token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusBadRequest, "invalid-request")
		r = e.do(request{method: "GET", path: "/api/v1/audit", token: e.tokens[auth.RoleOperator]})
		wantProblem(t, r, http.StatusForbidden, "forbidden")
	})
}

func TestWhoami(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		role    auth.Role
		actions []string
	}{
		{auth.RoleAdmin, []string{"read", "operate", "manage-devices", "admin"}},
		{auth.RoleOperator, []string{"read", "operate", "manage-devices"}},
		{auth.RoleViewer, []string{"read"}},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			var got struct {
				TokenID   string   `json:"token_id"`
				Name      string   `json:"name"`
				Role      string   `json:"role"`
				Actions   []string `json:"actions"`
				ExpiresAt *string  `json:"expires_at"`
			}
			r := e.call(request{method: "GET", path: "/api/v1/whoami", token: e.tokens[tc.role]}, http.StatusOK, &got)
			if got.Name != string(tc.role) || got.Role != string(tc.role) || !strings.HasPrefix(e.tokens[tc.role], auth.TokenPrefix+got.TokenID+"_") ||
				strings.Join(got.Actions, ",") != strings.Join(tc.actions, ",") || got.ExpiresAt != nil {
				t.Errorf("whoami = %s", r.body)
			}
			if !strings.Contains(string(r.body), `"expires_at":null`) {
				t.Errorf("expires_at is not null for a token that never expires: %s", r.body)
			}
		})
	}

	t.Run("expiring token", func(t *testing.T) {
		tok, secret, err := e.auth.Create(t.Context(), "short", auth.RoleViewer, "test", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			TokenID   string    `json:"token_id"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		testutil.Eventually(t, 10*time.Second, "the new token to authenticate", func() bool {
			return e.do(request{method: "GET", path: "/api/v1/whoami", token: secret}).status == http.StatusOK
		})
		e.call(request{method: "GET", path: "/api/v1/whoami", token: secret}, http.StatusOK, &got)
		if got.TokenID != tok.ID || !got.ExpiresAt.Equal(tok.Expires) {
			t.Errorf("whoami = %+v, want id %s expiring %s", got, tok.ID, tok.Expires)
		}
	})

	t.Run("no token", func(t *testing.T) {
		wantProblem(t, e.do(request{method: "GET", path: "/api/v1/whoami"}), http.StatusUnauthorized, "unauthorized")
	})
}
