package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"cuttle/controller/auth"
	"cuttle/devices/inventory"
	"cuttle/internal/testutil"
)

type credentialJSON struct {
	Username   string `json:"username"`
	Role       string `json:"role"`
	EndpointID string `json:"endpoint_id"`
	SecretKind string `json:"secret_kind"`
	Disabled   bool   `json:"disabled"`
}

// waitGone waits until the broker has disconnected d.
func waitGone(t *testing.T, d *simDevice) {
	t.Helper()
	select {
	case <-d.gone:
	case <-time.After(10 * time.Second):
		t.Fatalf("the broker did not disconnect %s", d.eid)
	}
}

func TestCredentials(t *testing.T) {
	e := newEnv(t, envOptions{devices: []string{dev1, dev2}})
	const newEID = "os::012345-0100"

	var created struct {
		Credential credentialJSON `json:"credential"`
		Secret     string         `json:"secret"`
	}
	t.Run("create", func(t *testing.T) {
		r := e.call(request{method: "POST", path: "/api/v1/credentials", body: map[string]any{"role": "device", "endpoint_id": newEID}},
			http.StatusCreated, &created)
		c := created.Credential
		if c.Username != newEID || c.Role != "device" || c.EndpointID != newEID || c.SecretKind != "token" || c.Disabled || created.Secret == "" {
			t.Fatalf("created %s", r.body)
		}
		if strings.Contains(string(r.body), "hash") {
			t.Errorf("the response shows the hash: %s", r.body)
		}
		// The broker takes it: a device connects with the secret.
		testutil.Eventually(t, 5*time.Second, "the mirror to have "+newEID, func() bool { _, ok := e.mirror.Lookup(newEID); return ok })
		e.devices[newEID] = e.connectDevice(newEID, created.Secret, 100)
		e.waitDevice(newEID, func(d inventory.Device) bool { return d.Status == inventory.StatusOnline }, "online")

		r = e.do(request{method: "POST", path: "/api/v1/credentials", token: e.tokens[auth.RoleAdmin], body: map[string]any{"role": "device", "endpoint_id": newEID}})
		wantProblem(t, r, http.StatusConflict, "conflict")

		var admin struct {
			Credential credentialJSON `json:"credential"`
			Secret     string         `json:"secret"`
		}
		e.call(request{method: "POST", path: "/api/v1/credentials", body: map[string]any{"role": "admin", "username": "ops", "password": "correct horse battery"}},
			http.StatusCreated, &admin)
		if admin.Credential.SecretKind != "password" || admin.Secret != "" {
			t.Errorf("admin with a chosen password: %+v", admin)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			body   map[string]any
			fields []string
		}{
			{map[string]any{"role": "superuser", "endpoint_id": newEID}, []string{"role"}},
			{map[string]any{"role": "device"}, []string{"endpoint_id"}},
			{map[string]any{"role": "device", "endpoint_id": "not an id"}, []string{"endpoint_id"}},
			{map[string]any{"role": "admin"}, []string{"username"}},
			{map[string]any{"role": "device", "endpoint_id": "os::012345-0101", "password": "short"}, []string{"password"}},
			{map[string]any{"role": "device", "endpoint_id": "os::012345-0101", "secret": "x"}, []string{"secret"}},
		} {
			r := e.do(request{method: "POST", path: "/api/v1/credentials", token: e.tokens[auth.RoleAdmin], body: tc.body})
			p := wantProblem(t, r, http.StatusBadRequest, "invalid-request")
			var got []string
			for _, f := range p.Errors {
				got = append(got, f.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("%v: fields %v, want %v (%s)", tc.body, got, tc.fields, r.body)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		r := e.call(request{method: "GET", path: "/api/v1/credentials"}, http.StatusOK, nil)
		var list struct {
			Credentials []credentialJSON `json:"credentials"`
		}
		if err := json.Unmarshal(r.body, &list); err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, c := range list.Credentials {
			names[c.Username] = c.Role
		}
		if names[dev1] != "device" || names[newEID] != "device" || names[ctlEID] != "controller" || names["ops"] != "admin" {
			t.Errorf("credentials %v", names)
		}
		if strings.Contains(string(r.body), "hash") {
			t.Errorf("the list shows hashes: %s", r.body)
		}
	})

	t.Run("disable and enable", func(t *testing.T) {
		var c credentialJSON
		e.call(request{method: "POST", path: "/api/v1/credentials/" + dev1 + "/disable"}, http.StatusOK, &c)
		if !c.Disabled {
			t.Errorf("after disable: %+v", c)
		}
		waitGone(t, e.devices[dev1])
		e.waitDevice(dev1, func(d inventory.Device) bool { return d.Status == inventory.StatusOffline }, "offline")
		if err := e.tryConnect(dev1, e.devices[dev1].secret); err == nil {
			t.Error("the broker accepts a disabled credential")
		}
		e.call(request{method: "POST", path: "/api/v1/credentials/" + dev1 + "/enable"}, http.StatusOK, &c)
		if c.Disabled {
			t.Errorf("after enable: %+v", c)
		}
		testutil.Eventually(t, 5*time.Second, "the broker to accept the enabled credential", func() bool {
			return e.tryConnect(dev1, e.devices[dev1].secret) == nil
		})
		r := e.do(request{method: "POST", path: "/api/v1/credentials/nobody/disable", token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
	})

	t.Run("rotate", func(t *testing.T) {
		// A credential of its own: connecting with it takes over the
		// session of whichever device uses the same client ID.
		const eid = "os::012345-0101"
		var made, rotated struct {
			Credential struct {
				Username string `json:"username"`
			} `json:"credential"`
			Secret string `json:"secret"`
		}
		e.call(request{method: "POST", path: "/api/v1/credentials", body: map[string]any{"role": "device", "endpoint_id": eid}}, http.StatusCreated, &made)
		e.call(request{method: "POST", path: "/api/v1/credentials/" + eid + "/rotate"}, http.StatusOK, &rotated)
		if rotated.Secret == "" || rotated.Secret == made.Secret || rotated.Credential.Username != eid {
			t.Fatalf("rotate answered %+v", rotated)
		}
		testutil.Eventually(t, 5*time.Second, "the broker to accept the new secret", func() bool {
			return e.tryConnect(eid, rotated.Secret) == nil
		})
		if err := e.tryConnect(eid, made.Secret); err == nil {
			t.Error("the broker still accepts the secret rotated away")
		}
		r := e.do(request{method: "POST", path: "/api/v1/credentials/nobody/rotate", token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
		r = e.do(request{method: "POST", path: "/api/v1/credentials/" + eid + "/rotate", token: e.tokens[auth.RoleOperator]})
		wantProblem(t, r, http.StatusForbidden, "forbidden")
		e.call(request{method: "DELETE", path: "/api/v1/credentials/" + eid}, http.StatusNoContent, nil)
	})

	t.Run("delete", func(t *testing.T) {
		e.call(request{method: "DELETE", path: "/api/v1/credentials/" + newEID}, http.StatusNoContent, nil)
		waitGone(t, e.devices[newEID])
		if err := e.tryConnect(newEID, created.Secret); err == nil {
			t.Error("the broker still accepts the removed credential")
		}
		e.waitDevice(newEID, func(d inventory.Device) bool { return d.Status == inventory.StatusOffline }, "offline")
		r := e.do(request{method: "DELETE", path: "/api/v1/credentials/" + newEID, token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
	})

	t.Run("revoke certificates", func(t *testing.T) {
		var rev struct {
			Spec   string `json:"spec"`
			Reason string `json:"reason"`
		}
		e.call(request{method: "POST", path: "/api/v1/credentials/revoke-cert", body: map[string]any{"spec": "serial:0A:1B", "reason": "lost"}}, http.StatusOK, &rev)
		if rev.Spec != "serial:0a1b" || rev.Reason != "lost" {
			t.Errorf("revoked %+v", rev)
		}
		var list struct {
			Revoked []struct {
				Spec   string `json:"spec"`
				Reason string `json:"reason"`
			} `json:"revoked"`
		}
		e.call(request{method: "GET", path: "/api/v1/credentials/revoked"}, http.StatusOK, &list)
		if len(list.Revoked) != 1 || list.Revoked[0].Spec != "serial:0a1b" {
			t.Errorf("revoked list %+v", list)
		}
		r := e.do(request{method: "POST", path: "/api/v1/credentials/revoke-cert", token: e.tokens[auth.RoleAdmin], body: map[string]any{"spec": "md5:00"}})
		if p := wantProblem(t, r, http.StatusBadRequest, "invalid-request"); len(p.Errors) != 1 || p.Errors[0].Field != "spec" {
			t.Errorf("bad spec: %s", r.body)
		}

		e.call(request{method: "POST", path: "/api/v1/credentials/unrevoke-cert", body: map[string]any{"spec": "serial:0a:1b"}}, http.StatusNoContent, nil)
		e.call(request{method: "GET", path: "/api/v1/credentials/revoked"}, http.StatusOK, &list)
		if len(list.Revoked) != 0 {
			t.Errorf("after unrevoke-cert the list is %+v", list)
		}
		r = e.do(request{method: "POST", path: "/api/v1/credentials/unrevoke-cert", token: e.tokens[auth.RoleAdmin], body: map[string]any{"spec": "serial:0a1b"}})
		wantProblem(t, r, http.StatusNotFound, "not-found")
		r = e.do(request{method: "POST", path: "/api/v1/credentials/unrevoke-cert", token: e.tokens[auth.RoleAdmin], body: map[string]any{"spec": "md5:00"}})
		if p := wantProblem(t, r, http.StatusBadRequest, "invalid-request"); len(p.Errors) != 1 || p.Errors[0].Field != "spec" {
			t.Errorf("bad spec: %s", r.body)
		}
	})

	t.Run("delete a device and revoke it", func(t *testing.T) {
		var out struct {
			CredentialRemoved bool `json:"credential_removed"`
		}
		e.call(request{method: "DELETE", path: devicePath(dev2) + "?revoke=true"}, http.StatusOK, &out)
		if !out.CredentialRemoved {
			t.Errorf("credential_removed false")
		}
		waitGone(t, e.devices[dev2])
		// Gone, and it stays gone: the broker's offline record does not
		// bring it back.
		time.Sleep(300 * time.Millisecond)
		r := e.do(request{method: "GET", path: devicePath(dev2), token: e.tokens[auth.RoleViewer]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
		r = e.do(request{method: "POST", path: "/api/v1/credentials/" + dev2 + "/enable", token: e.tokens[auth.RoleAdmin]})
		wantProblem(t, r, http.StatusNotFound, "not-found")
	})
}
