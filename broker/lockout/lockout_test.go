package lockout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source tests move by hand.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTest(t *testing.T, cfg Config) (*Limiter, *clock) {
	t.Helper()
	c := newClock()
	cfg.Now = c.Now
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

// fail records n failures and returns the locks they started.
func fail(l *Limiter, ip, user string, n int) []Lock {
	var locks []Lock
	for range n {
		locks = append(locks, l.Failure(ip, user)...)
	}
	return locks
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string // "" = valid
	}{
		{"zero", Config{}, ""},
		{"max failures", Config{MaxFailures: -1}, "MaxFailures"},
		{"window", Config{Window: -time.Second}, "Window"},
		{"base", Config{BaseLockout: -time.Second}, "BaseLockout"},
		{"max lockout", Config{MaxLockout: -time.Second}, "MaxLockout"},
		{"max keys", Config{MaxKeys: -1}, "MaxKeys"},
		{"max below base", Config{BaseLockout: time.Hour, MaxLockout: time.Minute}, "MaxLockout"},
		{"base above default max", Config{BaseLockout: 2 * time.Hour}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New = %v, want ErrInvalidConfig naming %s", err, tc.field)
			}
		})
	}
}

func TestLockAfterMaxFailures(t *testing.T) {
	l, c := newTest(t, Config{})
	if locks := fail(l, "192.0.2.1", "alice", 4); len(locks) != 0 {
		t.Fatalf("4 failures locked %v", locks)
	}
	if ok, _ := l.Check("192.0.2.1", "alice"); !ok {
		t.Fatal("refused after 4 failures")
	}
	locks := l.Failure("192.0.2.1", "alice")
	start := c.Now()
	want := []Lock{
		{Kind: KindIP, Key: "192.0.2.1", Until: start.Add(time.Minute), Duration: time.Minute},
		{Kind: KindUsername, Key: "alice", Until: start.Add(time.Minute), Duration: time.Minute},
	}
	if fmt.Sprint(locks) != fmt.Sprint(want) {
		t.Fatalf("5th failure locked %v, want %v", locks, want)
	}
	if n := l.LockedCount(); n != 2 {
		t.Errorf("LockedCount = %d, want 2", n)
	}

	steps := []struct {
		after time.Duration // since the lock started
		ok    bool
		retry time.Duration
	}{
		{0, false, time.Minute},
		{30 * time.Second, false, 30 * time.Second},
		{time.Minute - time.Nanosecond, false, time.Nanosecond},
		{time.Minute, true, 0},
	}
	for _, s := range steps {
		c.Advance(start.Add(s.after).Sub(c.Now()))
		if ok, retry := l.Check("192.0.2.1", "alice"); ok != s.ok || retry != s.retry {
			t.Errorf("after %v: Check = %v, %v; want %v, %v", s.after, ok, retry, s.ok, s.retry)
		}
	}
	if n := l.LockedCount(); n != 0 {
		t.Errorf("LockedCount after expiry = %d, want 0", n)
	}
}

func TestFailureWhileLocked(t *testing.T) {
	l, c := newTest(t, Config{})
	first := fail(l, "", "alice", 5)
	if len(first) != 1 {
		t.Fatalf("locks = %v", first)
	}
	c.Advance(30 * time.Second)
	if locks := fail(l, "", "alice", 10); len(locks) != 0 {
		t.Fatalf("failures while locked started %v", locks)
	}
	if _, retry := l.Check("", "alice"); retry != 30*time.Second {
		t.Errorf("retryAfter = %v, want the lock unchanged at 30s", retry)
	}
	c.Advance(30 * time.Second)
	// The failures that caused the lock are spent, and the ones during it
	// were not counted: one more failure must not lock again.
	if locks := l.Failure("", "alice"); len(locks) != 0 {
		t.Fatalf("first failure after the lock locked again: %v", locks)
	}
}

func TestLockoutDoubles(t *testing.T) {
	l, c := newTest(t, Config{})
	want := []time.Duration{
		time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour,
	}
	for i, w := range want {
		locks := fail(l, "", "alice", 5)
		if len(locks) != 1 || locks[0].Duration != w {
			t.Fatalf("lockout %d: %v, want one of %v", i+1, locks, w)
		}
		c.Advance(w)
	}
}

func TestRepeatsDecay(t *testing.T) {
	cases := []struct {
		quiet time.Duration // between the last failure of one lockout and the next burst
		want  time.Duration
	}{
		{2*time.Hour - time.Second, 4 * time.Minute},
		{2 * time.Hour, time.Minute},
		{5 * time.Hour, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.quiet.String(), func(t *testing.T) {
			l, c := newTest(t, Config{})
			fail(l, "", "alice", 5) // 1m
			c.Advance(time.Minute)
			fail(l, "", "alice", 5) // 2m
			c.Advance(tc.quiet)
			locks := fail(l, "", "alice", 5)
			if len(locks) != 1 || locks[0].Duration != tc.want {
				t.Fatalf("after %v quiet: %v, want %v", tc.quiet, locks, tc.want)
			}
		})
	}
}

func TestSuccessResets(t *testing.T) {
	l, c := newTest(t, Config{})
	// Alice logs in from .3 and someone else from .1, which resets both
	// of the failing keys; alice's success from .3 does not make .1 one of
	// her trusted sources, so .1's failures still count for her.
	success := func() {
		l.Success("192.0.2.3", "alice")
		l.Success("192.0.2.1", "carol")
	}
	fail(l, "192.0.2.1", "alice", 4)
	success()
	if locks := fail(l, "192.0.2.1", "alice", 4); len(locks) != 0 {
		t.Fatalf("4 failures after a success locked %v", locks)
	}
	if locks := l.Failure("192.0.2.1", "alice"); len(locks) != 2 {
		t.Fatalf("5th failure after a success: %v, want two locks", locks)
	}

	// The lockout history survives a success, so the next lock doubles.
	c.Advance(time.Minute)
	success()
	locks := fail(l, "192.0.2.1", "alice", 5)
	if len(locks) != 2 || locks[0].Duration != 2*time.Minute {
		t.Fatalf("locks after success = %v, want 2m", locks)
	}
	if got := l.users.len() + l.ips.len(); got != 2 {
		t.Errorf("tracking %d keys, want 2", got)
	}

	// A success for a key never locked forgets it.
	fail(l, "192.0.2.2", "bob", 1)
	l.Success("192.0.2.2", "bob")
	if got := l.users.len() + l.ips.len(); got != 2 {
		t.Errorf("tracking %d keys after success, want 2", got)
	}
}

// A guesser cannot lock a device out: failures for its username from
// elsewhere lock the username, but not for an IP the device logged in from
// successfully, and failures from that IP count for the IP only.
func TestTrustedSourceNotLockedOut(t *testing.T) {
	l, c := newTest(t, Config{TrustFor: time.Hour})
	const device, home, attacker, other = "os::012345-0001", "198.51.100.10", "203.0.113.66", "203.0.113.77"
	l.Success(home, device)
	if locks := fail(l, attacker, device, 5); len(locks) != 2 {
		t.Fatalf("5 failures from the attacker: %v, want the IP and the username locked", locks)
	}
	if ok, _ := l.Check(home, device); !ok {
		t.Fatal("the device is locked out at its own address")
	}
	if ok, _ := l.Check(other, device); ok {
		t.Fatal("the locked username is let in from an unknown address")
	}
	if ok, _ := l.Check(attacker, "someone-else"); ok {
		t.Fatal("the attacker's IP is not locked")
	}

	// Failures from the trusted address lock that address only.
	locks := fail(l, home, device, 5)
	if len(locks) != 1 || locks[0].Kind != KindIP {
		t.Fatalf("5 failures from the trusted address: %v, want only its IP locked", locks)
	}

	// Trust ends TrustFor after the last success.
	c.Advance(2 * time.Hour) // every lock above has ended too
	l.Success(home, "another-user")
	if locks := fail(l, other, device, 5); len(locks) != 2 {
		t.Fatalf("failures after the locks ended: %v, want two locks", locks)
	}
	if ok, _ := l.Check(home, device); ok {
		t.Fatal("trust outlived TrustFor")
	}
	l.sweep()
	if n := l.trust.shard(pairKey(userKey(device), ipKey(home))).m; len(n) > 0 {
		for k := range n {
			if k == pairKey(userKey(device), ipKey(home)) {
				t.Fatal("sweep kept an expired trusted pair")
			}
		}
	}
}

// The remembered pairs are capped at MaxKeys.
func TestTrustBounded(t *testing.T) {
	l, _ := newTest(t, Config{MaxKeys: 50})
	for i := range 1000 {
		l.Success(fmt.Sprintf("10.0.%d.%d", i/250, i%250), fmt.Sprintf("user-%d", i))
	}
	n := 0
	for i := range l.trust.shards {
		n += len(l.trust.shards[i].m)
	}
	if n > 50 {
		t.Fatalf("%d trusted pairs remembered, cap 50", n)
	}
}

func TestIPAndUsernameIndependent(t *testing.T) {
	l, _ := newTest(t, Config{})

	// One IP guessing many usernames locks the IP only.
	var locks []Lock
	for i := range 5 {
		locks = append(locks, l.Failure("192.0.2.1", fmt.Sprintf("user%d", i))...)
	}
	if len(locks) != 1 || locks[0].Kind != KindIP {
		t.Fatalf("locks = %v, want the IP", locks)
	}
	// Many IPs guessing one username lock the username only.
	locks = nil
	for i := range 5 {
		locks = append(locks, l.Failure(fmt.Sprintf("198.51.100.%d", i), "victim")...)
	}
	if len(locks) != 1 || locks[0].Kind != KindUsername || locks[0].Key != "victim" {
		t.Fatalf("locks = %v, want the username", locks)
	}

	cases := []struct {
		ip, user string
		ok       bool
	}{
		{"192.0.2.1", "someone", false},
		{"192.0.2.1", "", false},
		{"192.0.2.2", "user0", true},
		{"203.0.113.1", "victim", false},
		{"198.51.100.0", "other", true},
		{"203.0.113.1", "", true},
		{"", "victim", false},
	}
	for _, tc := range cases {
		if ok, _ := l.Check(tc.ip, tc.user); ok != tc.ok {
			t.Errorf("Check(%q, %q) = %v, want %v", tc.ip, tc.user, ok, tc.ok)
		}
	}
}

func TestWindow(t *testing.T) {
	cases := []struct {
		name     string
		interval time.Duration
		lock     bool
	}{
		{"within window", 14 * time.Second, true},
		{"spread over exactly the window", 15 * time.Second, false},
		{"spread wider", 20 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, c := newTest(t, Config{})
			var locks []Lock
			for i := range 5 {
				if i > 0 {
					c.Advance(tc.interval)
				}
				locks = append(locks, l.Failure("", "alice")...)
			}
			if got := len(locks) == 1; got != tc.lock {
				t.Fatalf("locks = %v, want locked %v", locks, tc.lock)
			}
		})
	}

	// The window slides: once the last five failures fall inside it, the
	// key locks, however many earlier ones fell outside.
	l, c := newTest(t, Config{})
	for range 5 {
		l.Failure("", "alice")
		c.Advance(15 * time.Second)
	}
	c.Advance(-14 * time.Second)
	if locks := l.Failure("", "alice"); len(locks) != 1 {
		t.Fatalf("sixth failure: %v, want a lock", locks)
	}
}

func TestIPKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:51234", "192.0.2.1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1883", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9]:8883", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"pipe", "pipe"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := ipKey(tc.in); got != tc.want {
				t.Errorf("ipKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}

	// Rotating through addresses of one /64 is still one source.
	l, _ := newTest(t, Config{})
	var locks []Lock
	for i := range 5 {
		locks = append(locks, l.Failure(fmt.Sprintf("[2001:db8::%x]:1883", i+1), "")...)
	}
	if len(locks) != 1 || locks[0].Key != "2001:db8::/64" {
		t.Fatalf("locks = %v, want the /64", locks)
	}
}

func TestLongUsernames(t *testing.T) {
	l, _ := newTest(t, Config{})
	a, b := strings.Repeat("a", 65535), strings.Repeat("a", 65534)+"b"
	fail(l, "", a, 4)
	if locks := l.Failure("", b); len(locks) != 0 {
		t.Fatalf("distinct long usernames counted together: %v", locks)
	}
	locks := l.Failure("", a)
	if len(locks) != 1 || !strings.HasPrefix(locks[0].Key, "sha256:") || len(locks[0].Key) > maxKeyLen {
		t.Fatalf("locks = %v, want one keyed by digest", locks)
	}
	if ok, _ := l.Check("", a); ok {
		t.Error("long username not locked")
	}
}

func TestMemoryBounded(t *testing.T) {
	l, _ := newTest(t, Config{})
	// A victim locked before the flood must stay locked through it: the
	// flood's one-off usernames are evicted first.
	fail(l, "", "victim", 5)
	for i := range 200_000 {
		l.Failure(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff), fmt.Sprintf("rand-%08x", i*2654435761))
	}
	if n := l.users.len(); n > DefaultMaxKeys {
		t.Errorf("tracking %d usernames, want at most %d", n, DefaultMaxKeys)
	}
	if n := l.ips.len(); n > DefaultMaxKeys {
		t.Errorf("tracking %d IPs, want at most %d", n, DefaultMaxKeys)
	}
	if ok, _ := l.Check("", "victim"); ok {
		t.Error("the flood unlocked the victim")
	}
}

func TestEvictsLocksLast(t *testing.T) {
	l, c := newTest(t, Config{MaxKeys: 3, MaxFailures: 1})
	l.Failure("", "a") // locked
	c.Advance(time.Second)
	l.Failure("", "b") // locked
	c.Advance(time.Second)
	l.Failure("", "c") // locked: all three are in the repeat list
	l.Failure("", "d") // evicts a, the least recent
	if n := l.users.len(); n != 3 {
		t.Fatalf("tracking %d, want 3", n)
	}
	for _, u := range []string{"a", "b", "c", "d"} {
		ok, _ := l.Check("", u)
		if want := u == "a"; ok != want {
			t.Errorf("Check(%q) = %v, want %v", u, ok, want)
		}
	}
}

func TestSweep(t *testing.T) {
	l, c := newTest(t, Config{})
	fail(l, "192.0.2.1", "alice", 5) // both locked
	fail(l, "192.0.2.2", "bob", 1)   // one failure each
	steps := []struct {
		after time.Duration
		keys  int
	}{
		{30 * time.Second, 4},
		{time.Minute, 2}, // bob's failures have left the window
		{2*time.Hour - time.Second, 2},
		{2 * time.Hour, 0}, // alice's lockout has decayed
	}
	start := c.Now()
	for _, s := range steps {
		c.Advance(start.Add(s.after).Sub(c.Now()))
		l.sweep()
		if n := l.ips.len() + l.users.len(); n != s.keys {
			t.Errorf("after %v: %d keys, want %d", s.after, n, s.keys)
		}
	}
}

func TestRunStops(t *testing.T) {
	l, err := New(Config{Window: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	l.Failure("192.0.2.1", "alice")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestConcurrent(t *testing.T) {
	l, err := New(Config{MaxKeys: 50})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Go(func() { _ = l.Run(ctx) })
	defer func() { cancel(); run.Wait() }()

	// 200 goroutines fail the same fresh username at once: exactly one of
	// them must start the lock.
	var wg sync.WaitGroup
	var mu sync.Mutex // guards locks
	var locks []Lock
	for i := range 200 {
		wg.Go(func() {
			got := l.Failure(fmt.Sprintf("192.0.2.%d", i), "shared")
			mu.Lock()
			locks = append(locks, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	n := 0
	for _, lk := range locks {
		if lk.Kind == KindUsername {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d username locks for one key, want 1", n)
	}
	if ok, _ := l.Check("", "shared"); ok {
		t.Error("shared username not locked")
	}

	// Then many goroutines churn through a key space larger than MaxKeys,
	// mixing every call.
	for g := range 32 {
		wg.Go(func() {
			for i := range 500 {
				ip, user := fmt.Sprintf("10.0.%d.%d", g, i%7), fmt.Sprintf("u%d", i%97)
				if ok, _ := l.Check(ip, user); ok {
					if i%5 == 0 {
						l.Success(ip, user)
					} else {
						l.Failure(ip, user)
					}
				}
				if i%100 == 0 {
					l.LockedCount()
					l.sweep()
				}
			}
		})
	}
	wg.Wait()
	if n := l.users.len(); n > 50 {
		t.Errorf("tracking %d usernames, want at most 50", n)
	}
	if n := l.ips.len(); n > 50 {
		t.Errorf("tracking %d IPs, want at most 50", n)
	}
}
