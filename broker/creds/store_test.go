package creds

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	dev1 = "os::012345-0001"
	dev2 = "os::012345-0002"
	ctl1 = "self::ctl1"
)

func testCtx(t testing.TB) context.Context { return testutil.Context(t, 30*time.Second) }

func openStore(t testing.TB, js jetstream.JetStream) *Store {
	t.Helper()
	s, err := OpenStore(testCtx(t), StoreConfig{JetStream: js})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func newStore(t testing.TB) (*Store, jetstream.JetStream) {
	t.Helper()
	_, js := natstest.JetStream(t, natstest.Start(t))
	return openStore(t, js), js
}

func add(t testing.TB, s *Store, req AddRequest) (Credential, string) {
	t.Helper()
	c, secret, err := s.Add(testCtx(t), req)
	if err != nil {
		t.Fatalf("Add(%+v): %v", req, err)
	}
	return c, secret
}

func TestStoreAddGet(t *testing.T) {
	s, js := newStore(t)
	ctx := testCtx(t)
	c, secret := add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	if c.Username != dev1 || c.EndpointID != dev1 || c.Role != RoleDevice || c.Disabled {
		t.Fatalf("Add returned %+v", c)
	}
	if len(secret) != 43 || !c.Verify(secret) || c.SecretKind() != "token" {
		t.Fatalf("secret %q (kind %s) does not verify", secret, c.SecretKind())
	}
	if c.Created.IsZero() || !c.Updated.Equal(c.Created) {
		t.Errorf("times: created %v updated %v", c.Created, c.Updated)
	}

	got, err := s.Get(ctx, dev1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != c.Username || got.Hash != c.Hash || !got.Created.Equal(c.Created) || !got.Verify(secret) {
		t.Fatalf("Get = %+v, want %+v", got, c)
	}

	// The bucket holds the escaped key and never the secret.
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "os=3A=3A012345-0001")
	if err != nil {
		t.Fatalf("raw get: %v", err)
	}
	if strings.Contains(string(e.Value()), secret) {
		t.Fatal("the stored value contains the secret")
	}
	for _, field := range []string{`"role":"device"`, `"endpoint_id":"os::012345-0001"`, `"hash":"hmac-sha256$`, `"created":`, `"updated":`} {
		if !strings.Contains(string(e.Value()), field) {
			t.Errorf("stored value %s lacks %s", e.Value(), field)
		}
	}
	if _, err := s.Get(ctx, dev2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
}

func TestStoreAddPassword(t *testing.T) {
	s, _ := newStore(t)
	c, secret := add(t, s, AddRequest{Username: "ops", Role: RoleAdmin, Secret: "a long chosen password"})
	if secret != "a long chosen password" || c.SecretKind() != "password" || !c.Verify(secret) {
		t.Fatalf("Add with a chosen password: %+v, %q", c, secret)
	}
}

func TestStoreAddInvalid(t *testing.T) {
	s, _ := newStore(t)
	cases := map[string]AddRequest{
		"bad role":             {Role: "king", EndpointID: dev1},
		"no role":              {EndpointID: dev1},
		"device without id":    {Username: "d", Role: RoleDevice},
		"controller without":   {Username: "c", Role: RoleController},
		"invalid endpoint id":  {Role: RoleDevice, EndpointID: "os:x:y/z"},
		"admin without name":   {Role: RoleAdmin},
		"short password":       {Role: RoleDevice, EndpointID: dev1, Secret: "elevenchars"},
		"password of 11 runes": {Role: RoleDevice, EndpointID: dev1, Secret: "ééééééééééé"},
		"bad utf-8 username":   {Username: "\xff", Role: RoleAdmin},
		"NUL in username":      {Username: "a\x00b", Role: RoleAdmin},
		"long username":        {Username: strings.Repeat("u", MaxUsernameLen+1), Role: RoleAdmin},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.Add(testCtx(t), req); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Add = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestStoreAddExists(t *testing.T) {
	s, _ := newStore(t)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	if _, _, err := s.Add(testCtx(t), AddRequest{Role: RoleDevice, EndpointID: dev1}); !errors.Is(err, ErrExists) {
		t.Fatalf("second Add = %v, want ErrExists", err)
	}

	// Racing creators: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, _, err := s.Add(testCtx(t), AddRequest{Role: RoleDevice, EndpointID: dev2})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrExists):
			t.Errorf("racing Add: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d racing Adds succeeded, want 1", wins)
	}
}

func TestStoreListDisableRemoveRotate(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev2})
	_, secret1 := add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1, Secret: "a long chosen password"})
	add(t, s, AddRequest{Role: RoleController, EndpointID: ctl1})

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range list {
		names = append(names, c.Username)
	}
	if got, want := strings.Join(names, ","), dev1+","+dev2+","+ctl1; got != want {
		t.Fatalf("List = %s, want %s", got, want)
	}

	if err := s.SetDisabled(ctx, dev1, true); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Get(ctx, dev1)
	if !c.Disabled || !c.Updated.After(c.Created) || !c.Verify(secret1) {
		t.Fatalf("after disable: %+v", c)
	}
	if err := s.SetDisabled(ctx, dev1, false); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get(ctx, dev1); c.Disabled {
		t.Fatal("still disabled after enable")
	}

	secret2, err := s.RotateSecret(ctx, dev1)
	if err != nil {
		t.Fatal(err)
	}
	c, _ = s.Get(ctx, dev1)
	if c.Verify(secret1) || !c.Verify(secret2) || c.SecretKind() != "token" {
		t.Fatalf("after rotate: old verifies %v, new verifies %v, kind %s", c.Verify(secret1), c.Verify(secret2), c.SecretKind())
	}

	if err := s.Remove(ctx, dev1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, dev1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Remove = %v", err)
	}
	// The name is free again.
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})

	for name, err := range map[string]error{
		"disable": s.SetDisabled(ctx, "nobody", true),
		"remove":  s.Remove(ctx, "nobody"),
		"rotate":  func() error { _, err := s.RotateSecret(ctx, "nobody"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a missing credential = %v, want ErrNotFound", name, err)
		}
	}
}

func TestStoreConcurrentUpdates(t *testing.T) {
	s, _ := newStore(t)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if err := s.SetDisabled(testCtx(t), dev1, i%2 == 0); err != nil {
				t.Errorf("SetDisabled: %v", err)
			}
		})
	}
	wg.Wait()
}

func TestStoreCorruptEntry(t *testing.T) {
	s, js := newStore(t)
	ctx := testCtx(t)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	kv, _ := js.KeyValue(ctx, DefaultBucket)
	if _, err := kv.PutString(ctx, EncodeKey(dev2), "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, dev2); !errors.Is(err, ErrInvalid) {
		t.Errorf("Get(corrupt) = %v, want ErrInvalid", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v; want only the good entry", list, err)
	}
	if err := s.Remove(ctx, dev2); err != nil {
		t.Fatalf("Remove(corrupt) = %v", err)
	}
}

func TestStoreRevocations(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	fp := strings.Repeat("AB:", 31) + "AB"
	if err := s.RevokeCert(ctx, "serial:0A:BC", "stolen"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCert(ctx, "sha256:"+fp, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCert(ctx, "serial:zz", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("RevokeCert(bad) = %v, want ErrInvalid", err)
	}
	list, err := s.ListRevoked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Spec != "serial:0abc" || list[0].Reason != "stolen" || list[0].Created.IsZero() ||
		list[1].Spec != "sha256:"+strings.Repeat("ab", 32) {
		t.Fatalf("ListRevoked = %+v", list)
	}
	if err := s.UnrevokeCert(ctx, "serial:abc"); err != nil {
		t.Fatal(err)
	}
	if err := s.UnrevokeCert(ctx, "serial:abc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second UnrevokeCert = %v, want ErrNotFound", err)
	}
	if list, _ := s.ListRevoked(ctx); len(list) != 1 {
		t.Errorf("after unrevoke: %+v", list)
	}
}

func TestOpenStoreBuckets(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	ctx := testCtx(t)
	s1, err := OpenStore(ctx, StoreConfig{JetStream: js, Bucket: "b1", RevokedBucket: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	add(t, s1, AddRequest{Role: RoleDevice, EndpointID: dev1})
	for _, name := range []string{"b1", "r1"} {
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			t.Fatalf("bucket %s: %v", name, err)
		}
		st, _ := kv.Status(ctx)
		if st.History() != 1 {
			t.Errorf("bucket %s keeps %d revisions, want 1", name, st.History())
		}
	}
	// Opening again finds the same data.
	s2, err := OpenStore(ctx, StoreConfig{JetStream: js, Bucket: "b1", RevokedBucket: "r1", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, dev1); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(ctx, StoreConfig{}); err == nil {
		t.Error("OpenStore without JetStream succeeded")
	}
}

func TestOpenStoreUnreachable(t *testing.T) {
	ns := natstest.Start(t)
	_, js := natstest.JetStream(t, ns)
	ns.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin := time.Now()
	_, err := OpenStore(ctx, StoreConfig{JetStream: js})
	if err == nil {
		t.Fatal("OpenStore succeeded with NATS down")
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	msg := err.Error()
	if !strings.Contains(msg, "NATS connection") || !strings.Contains(msg, "RECONNECTING") {
		t.Errorf("error %q does not name the NATS problem", msg)
	}
}
