package lockout

import (
	"hash/maphash"
	"sync"
	"time"
)

// A lock per username alone would let anyone lock a device out: its
// username is its endpoint ID, which is not secret, so five wrong passwords
// from anywhere would keep the real device off the broker for up to an
// hour. The limiter therefore remembers, per username, the source IPs it
// has logged in from successfully within TrustFor, and
//
//   - failures from such an IP do not count towards the username's lock
//     (the IP's own lock still counts them), and
//   - a locked username is still let in from such an IP.
//
// A guesser from anywhere else is held back exactly as before, per IP and
// per username, while the device keeps connecting from where it always
// has. A device that moves to a new address while its username is locked
// waits for the lock to end, as any client did before.
//
// DefaultTrustFor is how long a successful login vouches for its IP.
const DefaultTrustFor = 7 * 24 * time.Hour

// trust is the set of (username, IP) pairs with a recent successful
// login, sharded like the tables and capped at MaxKeys pairs.
type trust struct {
	seed   maphash.Seed
	shards []trustShard
	mask   uint64
	max    int // pairs per shard
}

type trustShard struct {
	mu sync.Mutex
	m  map[string]int64 // username key + "\x00" + IP key -> time of the last success
	_  [64]byte         // keeps neighbouring shards' mutexes off one cache line
}

func (t *trust) init(shards, maxKeys int, seed maphash.Seed) {
	n := 1
	for n < shards {
		n *= 2
	}
	t.seed = seed
	t.shards = make([]trustShard, n)
	t.mask = uint64(n - 1)
	t.max = max(maxKeys/n, 1)
	for i := range t.shards {
		t.shards[i].m = make(map[string]int64)
	}
}

func pairKey(user, ip string) string { return user + "\x00" + ip }

func (t *trust) shard(key string) *trustShard {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// remember records a successful login for the pair at now.
func (t *trust) remember(key string, now int64) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; !ok && len(s.m) >= t.max {
		// Full: forget one pair. Map iteration starts at a random place,
		// so no one can choose which.
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[key] = now
}

// trusted reports whether the pair had a successful login within window.
func (t *trust) trusted(key string, now, window int64) bool {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.m[key]
	return ok && now-last < window
}

// sweep forgets the pairs older than window.
func (t *trust) sweep(now, window int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, last := range s.m {
			if now-last >= window {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}
