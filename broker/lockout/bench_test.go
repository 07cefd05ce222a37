package lockout

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// shardVariants compares one mutex with the automatic sharding, which is
// what justified sharding at all.
var shardVariants = []struct {
	name   string
	shards int
}{
	{"shards=1", 1},
	{"shards=auto", 0},
}

// benchKeys returns n distinct IPs and usernames, made up front so the
// benchmarks measure the limiter and not fmt.
func benchKeys(n int) (ips, users []string) {
	ips, users = make([]string, n), make([]string, n)
	for i := range n {
		ips[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff)
		users[i] = fmt.Sprintf("os::012345-%08x", i)
	}
	return ips, users
}

// BenchmarkAllowed measures the check every CONNECT pays, against a table
// already holding 50,000 keys of each kind.
func BenchmarkAllowed(b *testing.B) {
	ips, users := benchKeys(50_000)
	for _, v := range shardVariants {
		l, err := newLimiter(Config{}, v.shards)
		if err != nil {
			b.Fatal(err)
		}
		for i := range ips {
			l.Failure(ips[i], users[i])
		}
		b.Run(v.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if ok, _ := l.Check(ips[i], users[i]); !ok {
					b.Fatal("refused")
				}
				i = (i + 1) % len(ips)
			}
		})
		b.Run(v.name+"/parallel", func(b *testing.B) {
			var next atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919)) % len(ips)
				for pb.Next() {
					l.Check(ips[i], users[i])
					i = (i + 1) % len(ips)
				}
			})
		})
	}
}

// BenchmarkFailureParallel measures a flood of failures with a fresh IP and
// username each time, past MaxKeys, so that it includes inserts and
// evictions: the worst case for the limiter.
func BenchmarkFailureParallel(b *testing.B) {
	ips, users := benchKeys(1 << 18)
	for _, v := range shardVariants {
		b.Run(v.name, func(b *testing.B) {
			l, err := newLimiter(Config{}, v.shards)
			if err != nil {
				b.Fatal(err)
			}
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1)) % len(ips)
					l.Failure(ips[i], users[i])
				}
			})
		})
	}
}
