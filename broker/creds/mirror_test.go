package creds

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// changeDeadline is how quickly a change must reach subscribers: the broker
// disconnects revoked sessions within 1 s of the KV write.
const changeDeadline = time.Second

// runMirror loads a mirror, runs it until cleanup and returns it with a
// channel receiving its changes.
func runMirror(t testing.TB, js jetstream.JetStream) (*Mirror, <-chan Change) {
	t.Helper()
	m, err := NewMirror(testCtx(t), MirrorConfig{JetStream: js, LoadTimeout: 2 * time.Second, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatalf("NewMirror: %v", err)
	}
	changes := make(chan Change, 100)
	m.Subscribe(func(c Change) { changes <- c })
	testutil.Run(t, "Run", 5*time.Second, m.Run)
	return m, changes
}

// expect waits for the next change, until within after since (when the
// write that causes it began), and checks its kind and subject (a username
// or a cert spec).
func expect(t testing.TB, changes <-chan Change, since time.Time, within time.Duration, kind ChangeKind, subject string) Change {
	t.Helper()
	select {
	case c := <-changes:
		got := c.Username
		if kind == CertRevoked || kind == CertUnrevoked {
			got = c.CertSpec
		}
		if c.Kind != kind || got != subject {
			t.Fatalf("change = %v %q, want %v %q", c.Kind, got, kind, subject)
		}
		if d := time.Since(since); d > within {
			t.Fatalf("%v %s took %s, want under %s", kind, subject, d, within)
		}
		t.Logf("%v %s %s after the write began", kind, subject, time.Since(since).Round(time.Microsecond))
		return c
	case <-time.After(time.Until(since.Add(within))):
		t.Fatalf("no %v %q within %s", kind, subject, within)
	}
	return Change{}
}

func TestMirrorInitialLoad(t *testing.T) {
	s, js := newStore(t)
	_, secret := add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	add(t, s, AddRequest{Role: RoleController, EndpointID: ctl1})
	add(t, s, AddRequest{Role: RoleController, EndpointID: "self::off", Username: "off"})
	if err := s.SetDisabled(testCtx(t), "off", true); err != nil {
		t.Fatal(err)
	}
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev2})
	if err := s.Remove(testCtx(t), dev2); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeCert(testCtx(t), "serial:0abc", "test"); err != nil {
		t.Fatal(err)
	}

	m, _ := runMirror(t, js)
	if m.Len() != 3 || !m.Healthy() {
		t.Fatalf("Len = %d, Healthy = %v; want 3, true", m.Len(), m.Healthy())
	}
	c, ok := m.Lookup(dev1)
	if !ok || c.Role != RoleDevice || c.EndpointID != dev1 || !c.Verify(secret) {
		t.Fatalf("Lookup(%s) = %+v, %v", dev1, c, ok)
	}
	if _, ok := m.Lookup(dev2); ok {
		t.Error("removed credential found")
	}
	if !m.HasController(ctl1) || m.HasController("self::off") || m.HasController(dev1) {
		t.Error("HasController wrong: want only the enabled controller")
	}
	if !m.IsRevoked(newCert(t, big.NewInt(0xabc))) || m.IsRevoked(newCert(t, big.NewInt(0xabd))) {
		t.Error("IsRevoked wrong after load")
	}
}

func TestMirrorChanges(t *testing.T) {
	s, js := newStore(t)
	ctx := testCtx(t)
	m, changes := runMirror(t, js)

	begin := time.Now()
	c, secret := add(t, s, AddRequest{Role: RoleController, EndpointID: ctl1})
	ch := expect(t, changes, begin, changeDeadline, CredentialUpdated, ctl1)
	if ch.Old != (Credential{}) || ch.New.Hash != c.Hash || !ch.New.Verify(secret) {
		t.Fatalf("add: %+v", ch)
	}
	if got, ok := m.Lookup(ctl1); !ok || got.Hash != c.Hash || !m.HasController(ctl1) {
		t.Fatal("mirror not updated before the callback")
	}

	begin = time.Now()
	if err := s.SetDisabled(ctx, ctl1, true); err != nil {
		t.Fatal(err)
	}
	ch = expect(t, changes, begin, changeDeadline, CredentialUpdated, ctl1)
	if ch.Old.Disabled || !ch.New.Disabled || m.HasController(ctl1) {
		t.Fatalf("disable: %+v, HasController %v", ch, m.HasController(ctl1))
	}
	if got, _ := m.Lookup(ctl1); !got.Disabled {
		t.Fatal("Lookup does not show the credential disabled")
	}
	begin = time.Now()
	if err := s.SetDisabled(ctx, ctl1, false); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, begin, changeDeadline, CredentialUpdated, ctl1)
	if !m.HasController(ctl1) {
		t.Fatal("enabled controller not found")
	}

	begin = time.Now()
	newSecret, err := s.RotateSecret(ctx, ctl1)
	if err != nil {
		t.Fatal(err)
	}
	ch = expect(t, changes, begin, changeDeadline, CredentialUpdated, ctl1)
	if ch.New.Verify(secret) || !ch.New.Verify(newSecret) {
		t.Fatal("rotate: the mirror still accepts the old secret")
	}

	begin = time.Now()
	if err := s.Remove(ctx, ctl1); err != nil {
		t.Fatal(err)
	}
	ch = expect(t, changes, begin, changeDeadline, CredentialRemoved, ctl1)
	if ch.Old.Username != ctl1 || ch.New != (Credential{}) {
		t.Fatalf("remove: %+v", ch)
	}
	if _, ok := m.Lookup(ctl1); ok || m.HasController(ctl1) || m.Len() != 0 {
		t.Fatal("removed credential still in the mirror")
	}

	cert := newCert(t, big.NewInt(0x1234))
	serial, fingerprint := CertSpecs(cert)
	begin = time.Now()
	if err := s.RevokeCert(ctx, "serial:12:34", "lost"); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, begin, changeDeadline, CertRevoked, serial)
	if !m.IsRevoked(cert) {
		t.Fatal("revoked serial not seen")
	}
	begin = time.Now()
	if err := s.UnrevokeCert(ctx, serial); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, begin, changeDeadline, CertUnrevoked, serial)
	if m.IsRevoked(cert) {
		t.Fatal("unrevoked serial still revoked")
	}
	begin = time.Now()
	if err := s.RevokeCert(ctx, strings.ToUpper(fingerprint), ""); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, begin, changeDeadline, CertRevoked, fingerprint)
	if !m.IsRevoked(cert) {
		t.Fatal("revoked fingerprint not seen")
	}
}

// A value that no longer decodes must lock its owner out, not leave the
// old rights in place.
func TestMirrorCorruptValueRemoves(t *testing.T) {
	s, js := newStore(t)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	m, changes := runMirror(t, js)
	kv, _ := js.KeyValue(testCtx(t), DefaultBucket)
	begin := time.Now()
	if _, err := kv.PutString(testCtx(t), EncodeKey(dev1), `{"role":"device"}`); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, begin, changeDeadline, CredentialRemoved, dev1)
	if _, ok := m.Lookup(dev1); ok {
		t.Fatal("corrupt credential still usable")
	}
	// Keys that decode to no username are ignored.
	if _, err := kv.PutString(testCtx(t), "bad=zz", "{}"); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-changes:
		t.Fatalf("unexpected change %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestMirrorSubscribeCancel(t *testing.T) {
	s, js := newStore(t)
	m, changes := runMirror(t, js)
	calls := make(chan Change, 10)
	var cancel func()
	cancel = m.Subscribe(func(c Change) {
		calls <- c
		cancel() // cancelling from inside the callback must not deadlock
	})
	begin := time.Now()
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	expect(t, changes, begin, changeDeadline, CredentialUpdated, dev1)
	begin = time.Now()
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev2})
	expect(t, changes, begin, changeDeadline, CredentialUpdated, dev2)
	if len(calls) != 1 {
		t.Fatalf("cancelled subscriber called %d times, want 1", len(calls))
	}
	cancel() // idempotent
}

// Changes between NewMirror and Run are delivered once Run starts.
func TestMirrorChangesBeforeRun(t *testing.T) {
	s, js := newStore(t)
	m, err := NewMirror(testCtx(t), MirrorConfig{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	changes := make(chan Change, 10)
	m.Subscribe(func(c Change) { changes <- c })
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	expect(t, changes, time.Now(), changeDeadline, CredentialUpdated, dev1)
	if err := m.Run(ctx); err == nil {
		t.Error("a second concurrent Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m.Healthy() {
		t.Error("Healthy after Run returned")
	}
}

// The mirror keeps answering while NATS is down, and catches up when it is
// back on the same port with the same store.
func TestMirrorSurvivesOutage(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	ns, restart := natstest.StartRestartable(t)
	_, js := natstest.JetStream(t, ns)
	s := openStore(t, js)
	_, secret := add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	m, changes := runMirror(t, js)

	ns.Shutdown()
	testutil.Eventually(t, 5*time.Second, "mirror reports unhealthy", func() bool { return !m.Healthy() })
	// Stay down long enough for several failed reconnect attempts.
	for range 5 {
		if c, ok := m.Lookup(dev1); !ok || !c.Verify(secret) {
			t.Fatal("Lookup fails during the outage")
		}
		time.Sleep(100 * time.Millisecond)
	}

	ns = restart()
	testutil.Eventually(t, 10*time.Second, "mirror healthy again", m.Healthy)
	begin := time.Now()
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev2})
	expect(t, changes, begin, changeDeadline, CredentialUpdated, dev2)
	begin = time.Now()
	if err := s.Remove(testCtx(t), dev1); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, begin, changeDeadline, CredentialRemoved, dev1)
	ns.Shutdown() // before the client's cleanup, to exercise Run ending mid-outage
}

// Changes made while the mirror's own connection is away are reported when
// it reconnects, from the reload.
func TestMirrorCatchesUpAfterReconnect(t *testing.T) {
	ns, restart := natstest.StartRestartable(t)
	// The writer reconnects quickly, the mirror slowly, so the writes land
	// while the mirror is still disconnected.
	_, writerJS := natstest.JetStream(t, ns, nats.ReconnectWait(20*time.Millisecond))
	_, mirrorJS := natstest.JetStream(t, ns, nats.ReconnectWait(time.Second))
	s := openStore(t, writerJS)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	m, changes := runMirror(t, mirrorJS)

	ns.Shutdown()
	testutil.Eventually(t, 5*time.Second, "mirror reports unhealthy", func() bool { return !m.Healthy() })
	restart()
	testutil.Eventually(t, 5*time.Second, "writer reconnected", func() bool { return writerJS.Conn().IsConnected() })
	if mirrorJS.Conn().IsConnected() {
		t.Log("the mirror reconnected before the writes; the test still checks delivery")
	}
	if err := s.SetDisabled(testCtx(t), dev1, true); err != nil {
		t.Fatal(err)
	}
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev2})

	got := map[string]Change{}
	for range 2 {
		select {
		case c := <-changes:
			got[c.Username] = c
		case <-time.After(5 * time.Second):
			t.Fatalf("changes after reconnect: got %v", got)
		}
	}
	if c := got[dev1]; c.Kind != CredentialUpdated || !c.New.Disabled {
		t.Errorf("dev1 change = %+v, want disabled", c)
	}
	if c := got[dev2]; c.Kind != CredentialUpdated || c.New.Username != dev2 {
		t.Errorf("dev2 change = %+v", c)
	}
}

// A connection closed for good leaves the mirror serving its last state
// until Run's context ends.
func TestMirrorConnectionClosed(t *testing.T) {
	ns := natstest.Start(t)
	nc, js := natstest.JetStream(t, ns)
	s := openStore(t, js)
	add(t, s, AddRequest{Role: RoleDevice, EndpointID: dev1})
	m, _ := runMirror(t, js)
	nc.Close()
	testutil.Eventually(t, 5*time.Second, "mirror reports unhealthy", func() bool { return !m.Healthy() })
	if _, ok := m.Lookup(dev1); !ok {
		t.Fatal("Lookup fails after the connection closed")
	}
}

func TestNewMirrorUnreachable(t *testing.T) {
	nc, js, url := natstest.Unreachable(t)
	begin := time.Now()
	_, err := NewMirror(context.Background(), MirrorConfig{JetStream: js, LoadTimeout: 500 * time.Millisecond})
	if err == nil {
		t.Fatal("NewMirror succeeded without NATS")
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("NewMirror took %s to fail", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "NATS connection to "+url) || !strings.Contains(msg, "RECONNECTING") {
		t.Errorf("error %q does not name the NATS problem", msg)
	}

	nc.Close()
	if _, err := NewMirror(context.Background(), MirrorConfig{JetStream: js}); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("NewMirror on a closed connection = %v", err)
	}
}

func TestNewMirrorMissingBucket(t *testing.T) {
	_, js := natstest.JetStream(t, natstest.Start(t))
	_, err := NewMirror(testCtx(t), MirrorConfig{JetStream: js, Bucket: "nope"})
	if !errors.Is(err, jetstream.ErrBucketNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("NewMirror = %v, want ErrBucketNotFound naming the bucket", err)
	}
}

// loadedMirror builds a mirror holding n devices without NATS, for
// benchmarks of the read path.
func loadedMirror(n int) *Mirror {
	snap := snapshot{creds: make(map[string]credEntry, n), revoked: map[string]revEntry{}}
	for i := range n {
		u := fmt.Sprintf("os::012345-%06d", i)
		snap.creds[u] = credEntry{cred: Credential{Username: u, Role: RoleDevice, EndpointID: u, Hash: "x"}, rev: uint64(i + 1)}
	}
	m := &Mirror{}
	m.replace(snap)
	return m
}

func BenchmarkMirrorLookup(b *testing.B) {
	const n = 100_000
	m := loadedMirror(n)
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("os::012345-%06d", i*97%n)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := m.Lookup(names[i&1023]); !ok {
			b.Fatal("missing")
		}
		i++
	}
}

func BenchmarkMirrorLookupParallel(b *testing.B) {
	const n = 100_000
	m := loadedMirror(n)
	names := make([]string, 1024)
	for i := range names {
		names[i] = fmt.Sprintf("os::012345-%06d", i*97%n)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, ok := m.Lookup(names[i&1023]); !ok {
				b.Fatal("missing")
			}
			i++
		}
	})
}
