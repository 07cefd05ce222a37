// Package lockout defends the broker's CONNECT path against password
// guessing. It counts failed logins per source IP and per username and, after
// too many failures in a short window, refuses further attempts from that IP
// or for that username before any password is checked, for a time that
// doubles with every repeat up to a cap.
//
// The broker calls [Limiter.Check] before it verifies credentials, then
// [Limiter.Failure] or [Limiter.Success] with the outcome. The limiter is
// built to survive the flood it defends against: memory is bounded by a cap
// on tracked keys per kind, every call is O(1), and state is sharded so that
// thousands of connection goroutines do not queue on one mutex.
package lockout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"time"
)

// Kinds of key a [Lock] applies to.
const (
	KindIP       = "ip"
	KindUsername = "username"
)

// Defaults for zero [Config] fields.
const (
	DefaultMaxFailures = 5
	DefaultWindow      = time.Minute
	DefaultBaseLockout = time.Minute
	DefaultMaxLockout  = time.Hour
	DefaultMaxKeys     = 100_000
)

// maxKeyLen bounds the memory one tracked key can hold. MQTT allows
// usernames of 64 KiB; longer keys are replaced by a digest so that a flood
// of huge random usernames costs no more than a flood of short ones.
const maxKeyLen = 256

// ErrInvalidConfig is wrapped by the error New returns for a bad Config.
var ErrInvalidConfig = errors.New("lockout: invalid config")

// Config configures a Limiter. Zero values mean the defaults noted on each
// field; negative values are an error.
type Config struct {
	// MaxFailures is how many failures within Window lock a key (5).
	MaxFailures int `yaml:"max_failures"`
	// Window is how long a failure counts towards MaxFailures (1m).
	Window time.Duration `yaml:"window"`
	// BaseLockout is the length of a key's first lockout (1m); each further
	// lockout of the same key doubles it.
	BaseLockout time.Duration `yaml:"base_lockout"`
	// MaxLockout caps the lockout length (1h). A key with no failures for
	// 2×MaxLockout starts again at BaseLockout.
	MaxLockout time.Duration `yaml:"max_lockout"`
	// MaxKeys caps the keys tracked per kind, IP and username (100,000).
	// When full, the keys that have gone longest without a failure and have
	// never been locked are forgotten first. It also caps the remembered
	// (username, IP) pairs with a recent successful login (trust.go).
	MaxKeys int `yaml:"max_keys"`
	// TrustFor is how long a successful login from an IP exempts that IP
	// from its username's lock (7 days; trust.go).
	TrustFor time.Duration `yaml:"trust_for"`
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time `yaml:"-"`
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxFailures", int64(c.MaxFailures)},
		{"Window", int64(c.Window)},
		{"BaseLockout", int64(c.BaseLockout)},
		{"MaxLockout", int64(c.MaxLockout)},
		{"MaxKeys", int64(c.MaxKeys)},
		{"TrustFor", int64(c.TrustFor)},
	} {
		if f.v < 0 {
			return c, fmt.Errorf("%w: %s must not be negative", ErrInvalidConfig, f.name)
		}
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.BaseLockout == 0 {
		c.BaseLockout = DefaultBaseLockout
	}
	if c.MaxLockout == 0 {
		c.MaxLockout = max(DefaultMaxLockout, c.BaseLockout)
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.TrustFor == 0 {
		c.TrustFor = DefaultTrustFor
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxLockout < c.BaseLockout {
		return c, fmt.Errorf("%w: MaxLockout (%v) is shorter than BaseLockout (%v)", ErrInvalidConfig, c.MaxLockout, c.BaseLockout)
	}
	return c, nil
}

// Lock describes a lockout that a failure started.
type Lock struct {
	Kind     string // KindIP or KindUsername
	Key      string // the IP (an IPv6 /64 prefix) or username, as counted
	Until    time.Time
	Duration time.Duration
}

// Limiter counts failed logins and decides who may try again. It is safe for
// concurrent use.
type Limiter struct {
	cfg   Config
	decay int64 // 2×MaxLockout: quiet time after which a key's repeats are forgotten
	// epoch anchors the int64 times kept per entry. Times are taken as
	// Now().Sub(epoch), so with time.Now they follow the monotonic clock and
	// a wall-clock step cannot lift or extend a lock.
	epoch time.Time
	ips   table
	users table
	trust trust // (username, IP) pairs with a recent successful login
}

// New returns a Limiter configured by cfg.
func New(cfg Config) (*Limiter, error) {
	return newLimiter(cfg, 0)
}

// newLimiter is New with the shard count chosen by the caller; 0 means
// automatic. Benchmarks use it to compare one mutex with many.
func newLimiter(cfg Config, shards int) (*Limiter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if shards <= 0 {
		shards = shardCount(cfg.MaxKeys)
	}
	seed := maphash.MakeSeed()
	l := &Limiter{
		cfg:   cfg,
		decay: int64(2 * cfg.MaxLockout),
		epoch: cfg.Now(),
	}
	l.ips.init(l, KindIP, shards, seed)
	l.users.init(l, KindUsername, shards, seed)
	l.trust.init(shards, cfg.MaxKeys, seed)
	return l, nil
}

// now returns the current time as nanoseconds since l.epoch.
func (l *Limiter) now() int64 { return int64(l.cfg.Now().Sub(l.epoch)) }

// at converts a time from l.now back to a time.Time.
func (l *Limiter) at(t int64) time.Time { return l.epoch.Add(time.Duration(t)).Round(0) }

// Check reports whether a login from ip for username may go ahead; when
// either key is locked it may not, and retryAfter says how long the longer
// of the two locks has left. An empty username (a client that sent none)
// means only the IP counts. A username's lock does not hold back an IP it
// logged in from successfully within TrustFor (trust.go).
//
// ip may be an address or host:port, such as a connection's remote address.
// IPv6 addresses are counted per /64, the block a single subscriber is
// usually given: counting single addresses would let one attacker rotate
// through 2^64 of them.
func (l *Limiter) Check(ip, username string) (allowed bool, retryAfter time.Duration) {
	var wait int64
	if ip != "" {
		wait = l.ips.check(ipKey(ip))
	}
	if username != "" {
		uk := userKey(username)
		if uw := l.users.check(uk); uw > 0 && !l.trusted(ip, uk) {
			wait = max(wait, uw)
		}
	}
	return wait == 0, time.Duration(wait)
}

// trusted reports whether the username (key uk) logged in successfully
// from ip within TrustFor.
func (l *Limiter) trusted(ip, uk string) bool {
	return ip != "" && l.trust.trusted(pairKey(uk, ipKey(ip)), l.now(), int64(l.cfg.TrustFor))
}

// Failure records a failed login from ip for username and returns the locks
// it started, for logs and metrics; usually none. A key that is already
// locked is not counted again: the caller should not have checked a
// password for it. A failure from an IP the username logged in from
// successfully within TrustFor counts for the IP only (trust.go).
func (l *Limiter) Failure(ip, username string) (locked []Lock) {
	now := l.now()
	if ip != "" {
		if lk, ok := l.ips.failure(ipKey(ip), now); ok {
			locked = append(locked, lk)
		}
	}
	if username != "" {
		uk := userKey(username)
		if !l.trusted(ip, uk) {
			if lk, ok := l.users.failure(uk, now); ok {
				locked = append(locked, lk)
			}
		}
	}
	return locked
}

// Success records a successful login from ip for username, clearing both
// keys' failure counts, and remembers the pair (trust.go). A key's history
// of lockouts survives until it decays, so that an attacker who also holds
// a valid account cannot reset the escalation by logging in between bursts
// of guesses.
func (l *Limiter) Success(ip, username string) {
	if ip != "" {
		l.ips.success(ipKey(ip))
	}
	if username != "" {
		uk := userKey(username)
		l.users.success(uk)
		if ip != "" {
			l.trust.remember(pairKey(uk, ipKey(ip)), l.now())
		}
	}
}

// LockedCount returns how many keys, of both kinds, are locked now.
func (l *Limiter) LockedCount() int {
	now := l.now()
	return l.ips.lockedCount(now) + l.users.lockedCount(now)
}

// Run removes expired entries periodically until ctx ends, then returns
// nil. Without it memory stays bounded by MaxKeys, but entries linger until
// evicted.
func (l *Limiter) Run(ctx context.Context) error {
	t := time.NewTicker(min(max(l.cfg.Window, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.sweep()
		}
	}
}

// sweep removes every entry that no longer holds state worth keeping.
func (l *Limiter) sweep() {
	now := l.now()
	l.ips.sweep(now)
	l.users.sweep(now)
	l.trust.sweep(now, int64(l.cfg.TrustFor))
}

// lockDuration returns the length of a key's lockout after it has already
// been locked strikes times.
func (l *Limiter) lockDuration(strikes int) int64 {
	d := l.cfg.BaseLockout
	for i := 0; i < strikes && d < l.cfg.MaxLockout; i++ {
		d *= 2
	}
	return int64(min(d, l.cfg.MaxLockout))
}

// ipKey returns the key ip is counted under: the address without port or
// zone, with IPv4-mapped IPv6 addresses as IPv4 and IPv6 reduced to its /64.
// A string that is not an address is used as it is.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err == nil && a.Is4() {
		return ip // already canonical; the common case allocates nothing
	}
	if err != nil {
		ap, err := netip.ParseAddrPort(ip)
		if err != nil {
			return boundKey(ip)
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // cannot fail: a is IPv6 and 64 is in range
	return p.String()
}

// userKey returns the key username is counted under.
func userKey(username string) string { return boundKey(username) }

// boundKey replaces a key longer than maxKeyLen with a fixed-size digest.
func boundKey(k string) string {
	if len(k) <= maxKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}
