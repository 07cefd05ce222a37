package lockout

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// table tracks the keys of one kind, split into shards by a seeded hash of
// the key. The seed is random per process so that an attacker cannot choose
// keys that all land in one shard.
type table struct {
	kind   string
	l      *Limiter
	seed   maphash.Seed
	shards []shard
	mask   uint64
}

// shard is one lock's worth of a table.
type shard struct {
	mu sync.Mutex // guards m, fresh, repeat and every entry in m
	m  map[string]*entry
	// fresh holds entries never locked (or whose lockouts have decayed) and
	// repeat those locked at least once, each most recent failure first.
	// Eviction takes from fresh first, so a flood of one-off usernames
	// cannot push out the locks that matter.
	fresh  list
	repeat list
	max    int
	_      [64]byte // keeps neighbouring shards' mutexes off one cache line
}

// entry is the state of one key.
type entry struct {
	key        string
	prev, next *entry
	// fails holds the times of the most recent failures, at most
	// MaxFailures; once full it is a ring whose oldest element is at head.
	fails   []int64
	head    int
	last    int64 // time of the latest failure
	until   int64 // end of the current lock; locked while until > now
	strikes int   // lockouts so far, until they decay
}

// shardCount picks a power of two that leaves every shard room for at least
// 1,024 keys, up to 64 shards: enough to spread thousands of goroutines,
// while a small MaxKeys keeps one shard and so an exact cap.
func shardCount(maxKeys int) int {
	n := 1
	for n < 64 && maxKeys/(n*2) >= 1024 {
		n *= 2
	}
	return n
}

func (t *table) init(l *Limiter, kind string, shards int, seed maphash.Seed) {
	n := 1
	for n < shards {
		n *= 2
	}
	t.kind, t.l, t.seed = kind, l, seed
	t.shards = make([]shard, n)
	t.mask = uint64(n - 1)
	// Integer division keeps the total at or under MaxKeys.
	per := max(l.cfg.MaxKeys/n, 1)
	for i := range t.shards {
		s := &t.shards[i]
		s.m = make(map[string]*entry)
		s.fresh.init()
		s.repeat.init()
		s.max = per
	}
}

func (t *table) shard(key string) *shard {
	if t.mask == 0 {
		return &t.shards[0]
	}
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// check returns how long key stays locked, or 0. It reads the clock only for
// a key that has been locked, because most keys checked have never failed
// and the clock read is a noticeable part of the cost on some VMs.
func (t *table) check(key string) int64 {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil || e.until == 0 {
		return 0
	}
	if now := t.l.now(); e.until > now {
		return e.until - now
	}
	return 0
}

// failure counts a failure for key and reports the lock it started, if any.
func (t *table) failure(key string, now int64) (Lock, bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()

	e := s.m[key]
	if e == nil {
		if len(s.m) >= s.max {
			s.evict()
		}
		// A copy, so that a key sliced from a large packet buffer does not
		// keep the whole buffer alive.
		e = &entry{key: strings.Clone(key)}
		s.m[e.key] = e
	} else {
		if e.until > now {
			return Lock{}, false
		}
		s.list(e).remove(e)
		if e.strikes > 0 && now-e.last >= t.l.decay {
			e.strikes = 0
		}
	}
	d, locked := t.record(e, now)
	s.list(e).pushFront(e)
	if !locked {
		return Lock{}, false
	}
	return Lock{Kind: t.kind, Key: e.key, Until: t.l.at(e.until), Duration: time.Duration(d)}, true
}

// record adds a failure at now to e and locks it, returning the lock's
// length, when that makes MaxFailures within the window.
func (t *table) record(e *entry, now int64) (d int64, locked bool) {
	e.last = now
	n := t.l.cfg.MaxFailures
	if len(e.fails) < n {
		e.fails = append(e.fails, now)
		if len(e.fails) < n {
			return 0, false
		}
	} else {
		e.fails[e.head] = now
		e.head = (e.head + 1) % n
	}
	if now-e.fails[e.head] >= int64(t.l.cfg.Window) {
		return 0, false
	}
	d = t.l.lockDuration(e.strikes)
	e.strikes++
	e.until = now + d
	// The failures that caused this lock are spent: after it ends the key
	// needs MaxFailures fresh ones to be locked again.
	e.fails, e.head = e.fails[:0], 0
	return d, true
}

// success clears key's failures; a key never locked is forgotten outright.
func (t *table) success(key string) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return
	}
	if e.strikes == 0 {
		s.fresh.remove(e)
		delete(s.m, key)
		return
	}
	e.fails, e.head = e.fails[:0], 0
}

// lockedCount counts locked keys. Only the repeat lists can hold them, and
// a lock ends at most MaxLockout after the failure that started it, so the
// walk stops at the first entry older than that: its cost follows the
// number of recent lockouts, not of tracked keys.
func (t *table) lockedCount(now int64) int {
	horizon := int64(t.l.cfg.MaxLockout)
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for e := s.repeat.front(); e != nil && now-e.last < horizon; e = s.repeat.nextOf(e) {
			if e.until > now {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// sweep removes entries that hold nothing worth keeping: fresh entries with
// no failure inside the window, and repeat entries quiet long enough for
// their lockouts to decay (by then any lock has ended too). Both lists are
// ordered by last failure, so each walk stops at the first live entry.
func (t *table) sweep(now int64) {
	window, decay := int64(t.l.cfg.Window), t.l.decay
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		s.trim(&s.fresh, now, window)
		s.trim(&s.repeat, now, decay)
		s.mu.Unlock()
	}
}

// trim removes entries from the back of ls whose last failure is at least
// age old.
func (s *shard) trim(ls *list, now, age int64) {
	for e := ls.back(); e != nil && now-e.last >= age; e = ls.back() {
		ls.remove(e)
		delete(s.m, e.key)
	}
}

// evict forgets the least recently failed entry, preferring one never
// locked.
func (s *shard) evict() {
	e := s.fresh.back()
	if e == nil {
		e = s.repeat.back()
	}
	if e == nil {
		return
	}
	s.list(e).remove(e)
	delete(s.m, e.key)
}

func (s *shard) list(e *entry) *list {
	if e.strikes > 0 {
		return &s.repeat
	}
	return &s.fresh
}

// len returns the number of entries in t, for tests.
func (t *table) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// list is an intrusive doubly linked list of entries; unlike container/list
// it costs no allocation per element and no interface conversions.
type list struct {
	root entry // sentinel: root.next is the front, root.prev the back
}

func (ls *list) init() { ls.root.next, ls.root.prev = &ls.root, &ls.root }

func (ls *list) pushFront(e *entry) {
	e.prev, e.next = &ls.root, ls.root.next
	ls.root.next.prev = e
	ls.root.next = e
}

func (ls *list) remove(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (ls *list) front() *entry { return ls.nextOf(&ls.root) }

func (ls *list) nextOf(e *entry) *entry {
	if e.next == &ls.root {
		return nil
	}
	return e.next
}

func (ls *list) back() *entry {
	if ls.root.prev == &ls.root {
		return nil
	}
	return ls.root.prev
}
