package kvwatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"cuttle/internal/natstest"
	"cuttle/internal/testutil"
)

// mirror is what a package keeps with a Follower: a map of key to value
// per bucket, and a record of the calls it received.
type mirror struct {
	mu     sync.Mutex        // guards the fields below
	vals   map[string]string // "bucket/key" to value
	loads  int               // loads begun
	done   int               // loads finished
	live   []string          // "bucket/key=value" for a put, "bucket/key DEL" or "PURGE" otherwise
	change chan struct{}     // signalled after every done and live call; capacity 1
}

func newMirror() *mirror {
	return &mirror{vals: map[string]string{}, change: make(chan struct{}, 1)}
}

func describe(e jetstream.KeyValueEntry) (key, text string) {
	key = e.Bucket() + "/" + e.Key()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		return key, key + "=" + string(e.Value())
	case jetstream.KeyValueDelete:
		return key, key + " DEL"
	}
	return key, key + " PURGE"
}

func (m *mirror) load() (func(jetstream.KeyValueEntry), func()) {
	m.mu.Lock()
	m.loads++
	m.mu.Unlock()
	next := map[string]string{}
	add := func(e jetstream.KeyValueEntry) {
		if key, _ := describe(e); e.Operation() == jetstream.KeyValuePut {
			next[key] = string(e.Value())
		}
	}
	done := func() {
		m.mu.Lock()
		m.vals = next
		m.done++
		m.mu.Unlock()
		m.signal()
	}
	return add, done
}

func (m *mirror) apply(e jetstream.KeyValueEntry) {
	key, text := describe(e)
	m.mu.Lock()
	if e.Operation() == jetstream.KeyValuePut {
		m.vals[key] = string(e.Value())
	} else {
		delete(m.vals, key)
	}
	m.live = append(m.live, text)
	m.mu.Unlock()
	m.signal()
}

func (m *mirror) signal() {
	select {
	case m.change <- struct{}{}:
	default:
	}
}

// snapshot returns the values and the live calls so far.
func (m *mirror) snapshot() (vals map[string]string, live []string, loads, done int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.vals), append([]string(nil), m.live...), m.loads, m.done
}

// waitFor waits until the mirror holds want, failing after within.
func (m *mirror) waitFor(t testing.TB, within time.Duration, want map[string]string) {
	t.Helper()
	deadline := time.After(within)
	for {
		vals, live, _, _ := m.snapshot()
		if maps.Equal(vals, want) {
			return
		}
		select {
		case <-m.change:
		case <-deadline:
			t.Fatalf("mirror holds %v after %s, want %v (live calls %q)", vals, within, want, live)
		}
	}
}

// follower builds a Follower of buckets into m.
func follower(t testing.TB, nc *nats.Conn, m *mirror, healthy *atomic.Bool, buckets ...jetstream.KeyValue) *Follower {
	return &Follower{
		Conn:        nc,
		Buckets:     buckets,
		What:        "test records",
		Log:         testutil.Logger(t),
		LoadTimeout: 2 * time.Second,
		Healthy:     healthy,
		Load:        m.load,
		Live:        m.apply,
	}
}

// bucket creates a KV bucket.
func bucket(t testing.TB, js jetstream.JetStream, name string) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateKeyValue(testCtx(t), jetstream.KeyValueConfig{Bucket: name, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return kv
}

// write makes changes to kv, each written as the mirror records live
// calls, without the bucket: "key=value" puts, "key DEL" deletes and
// "key PURGE" purges.
func write(t testing.TB, kv jetstream.KeyValue, changes ...string) {
	t.Helper()
	for _, c := range changes {
		var err error
		switch key, value, isPut := strings.Cut(c, "="); {
		case isPut:
			_, err = kv.PutString(testCtx(t), key, value)
		case strings.HasSuffix(c, " DEL"):
			err = kv.Delete(testCtx(t), strings.TrimSuffix(c, " DEL"))
		case strings.HasSuffix(c, " PURGE"):
			err = kv.Purge(testCtx(t), strings.TrimSuffix(c, " PURGE"))
		default:
			t.Fatalf("write %q: not a change", c)
		}
		if err != nil {
			t.Fatalf("write %s %q: %v", kv.Bucket(), c, err)
		}
	}
}

// open opens f and runs it until cleanup, checking that Run returns nil
// within 5 s of its context ending.
func open(t testing.TB, f *Follower) {
	t.Helper()
	w, err := f.Open(testCtx(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	run(t, f, w, nil)
}

// run runs f until cleanup, and fails the test if Run returns an error or
// takes over 5 s to return once its context ends.
func run(t testing.TB, f *Follower, w *Watch, status chan nats.Status) (stop func()) {
	t.Helper()
	return testutil.Run(t, "Run", 5*time.Second, func(ctx context.Context) error { return f.Run(ctx, w, status) })
}

func testCtx(t testing.TB) context.Context { return testutil.Context(t, 30*time.Second) }

// Open loads what is stored, without deleted keys; Run then passes on
// puts, deletes and purges in order.
func TestLoadThenChanges(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	nc, js := natstest.JetStream(t, natstest.Start(t))
	kv := bucket(t, js, "things")
	write(t, kv, "a=1", "b=2", "gone=x", "gone DEL")
	m := newMirror()
	var healthy atomic.Bool
	f := follower(t, nc, m, &healthy, kv)
	w, err := f.Open(testCtx(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	vals, live, loads, done := m.snapshot()
	if want := map[string]string{"things/a": "1", "things/b": "2"}; !maps.Equal(vals, want) || loads != 1 || done != 1 || len(live) != 0 {
		t.Fatalf("after Open: %v, live %q, %d loads, %d done; want %v and one load", vals, live, loads, done, want)
	}
	if healthy.Load() {
		t.Error("Open set Healthy: it is Run's to set")
	}
	run(t, f, w, nil)
	testutil.Eventually(t, time.Second, "healthy once running", healthy.Load)

	write(t, kv, "c=3", "a=10", "b DEL", "c PURGE")
	m.waitFor(t, 2*time.Second, map[string]string{"things/a": "10"})
	_, live, loads, _ = m.snapshot()
	want := []string{"things/c=3", "things/a=10", "things/b DEL", "things/c PURGE"}
	if fmt.Sprint(live) != fmt.Sprint(want) || loads != 1 {
		t.Errorf("live calls %q after %d loads, want %q after 1", live, loads, want)
	}
}

// One Follower follows several buckets: a load covers all of them, and
// entries say which bucket they come from.
func TestSeveralBuckets(t *testing.T) {
	nc, js := natstest.JetStream(t, natstest.Start(t))
	one, two := bucket(t, js, "one"), bucket(t, js, "two")
	write(t, one, "k=1")
	write(t, two, "k=2")
	m := newMirror()
	open(t, follower(t, nc, m, nil, one, two))
	m.waitFor(t, time.Second, map[string]string{"one/k": "1", "two/k": "2"})
	write(t, two, "k=22")
	write(t, one, "k DEL")
	m.waitFor(t, 2*time.Second, map[string]string{"two/k": "22"})
}

// Run without a Watch loads the buckets itself.
func TestRunLoads(t *testing.T) {
	nc, js := natstest.JetStream(t, natstest.Start(t))
	kv := bucket(t, js, "things")
	write(t, kv, "a=1")
	m := newMirror()
	var healthy atomic.Bool
	run(t, follower(t, nc, m, &healthy, kv), nil, nil)
	m.waitFor(t, 2*time.Second, map[string]string{"things/a": "1"})
	testutil.Eventually(t, time.Second, "healthy", healthy.Load)
	write(t, kv, "b=2")
	m.waitFor(t, 2*time.Second, map[string]string{"things/a": "1", "things/b": "2"})
}

// While NATS is down the mirror keeps its state and reports itself
// unhealthy; on reconnect Run reloads, which brings in what changed
// meanwhile, keys deleted and purged included, and then follows live
// changes again.
func TestOutageKeepsAndResyncs(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	ns, restart := natstest.StartRestartable(t)
	_, writerJS := natstest.JetStream(t, ns)
	// The follower's connection waits an hour after a failed reconnect
	// attempt, until the test forces one: the writes below then land for
	// certain while its watch is down.
	failed := make(chan struct{}, 1)
	nc, js := natstest.JetStream(t, ns, nats.CustomReconnectDelay(func(int) time.Duration {
		select {
		case failed <- struct{}{}:
		default:
		}
		return time.Hour
	}))
	writer := bucket(t, writerJS, "things")
	write(t, writer, "a=1", "b=1", "c=1")
	kv, err := js.KeyValue(testCtx(t), "things")
	if err != nil {
		t.Fatal(err)
	}
	m := newMirror()
	var healthy atomic.Bool
	open(t, follower(t, nc, m, &healthy, kv))
	testutil.Eventually(t, time.Second, "healthy", healthy.Load)

	ns.Shutdown()
	testutil.Eventually(t, 5*time.Second, "unhealthy during the outage", func() bool { return !healthy.Load() })
	select {
	case <-failed:
	case <-time.After(5 * time.Second):
		t.Fatal("no failed reconnect attempt within 5s")
	}
	before := map[string]string{"things/a": "1", "things/b": "1", "things/c": "1"}
	if vals, _, _, _ := m.snapshot(); !maps.Equal(vals, before) {
		t.Fatalf("during the outage the mirror holds %v, want %v", vals, before)
	}

	ns = restart()
	testutil.Eventually(t, 10*time.Second, "writer reconnected", writerJS.Conn().IsConnected)
	write(t, writer, "a=2", "d=1", "b DEL", "c PURGE")
	if nc.IsConnected() {
		t.Fatal("the follower reconnected before the test forced it")
	}
	if vals, _, _, _ := m.snapshot(); !maps.Equal(vals, before) {
		t.Fatalf("with its connection down the mirror changed to %v", vals)
	}

	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	m.waitFor(t, 10*time.Second, map[string]string{"things/a": "2", "things/d": "1"})
	testutil.Eventually(t, 5*time.Second, "healthy again", healthy.Load)
	_, live, loads, done := m.snapshot()
	if len(live) != 0 || loads != 2 || done != 2 {
		t.Errorf("caught up through %d loads (%d done) and live calls %q; want one reload and no live call", loads, done, live)
	}

	write(t, writer, "e=1")
	m.waitFor(t, 2*time.Second, map[string]string{"things/a": "2", "things/d": "1", "things/e": "1"})
	ns.Shutdown() // before the clients' cleanup, to exercise Run ending mid-outage
}

// When nats.go closes a watch's channel, Run loads the buckets again.
func TestClosedWatchReloads(t *testing.T) {
	nc, js := natstest.JetStream(t, natstest.Start(t))
	kv := bucket(t, js, "things")
	write(t, kv, "a=1")
	m := newMirror()
	var healthy atomic.Bool
	dying := make(fakeWatcher)
	run(t, follower(t, nc, m, &healthy, kv), &Watch{watchers: []jetstream.KeyWatcher{dying}, cancel: func() {}}, nil)
	testutil.Eventually(t, time.Second, "healthy", healthy.Load)
	close(dying)
	m.waitFor(t, 5*time.Second, map[string]string{"things/a": "1"})
	write(t, kv, "b=2")
	m.waitFor(t, 2*time.Second, map[string]string{"things/a": "1", "things/b": "2"})
	if _, _, loads, _ := m.snapshot(); loads != 1 {
		t.Errorf("%d loads, want 1 after the watch closed", loads)
	}
}

// A connection closed for good leaves the mirror as it was until Run's
// context ends.
func TestConnectionClosed(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	nc, js := natstest.JetStream(t, natstest.Start(t))
	kv := bucket(t, js, "things")
	write(t, kv, "a=1")
	m := newMirror()
	var healthy atomic.Bool
	open(t, follower(t, nc, m, &healthy, kv))
	testutil.Eventually(t, time.Second, "healthy", healthy.Load)
	nc.Close()
	testutil.Eventually(t, 5*time.Second, "unhealthy after Close", func() bool { return !healthy.Load() })
	if vals, _, _, _ := m.snapshot(); vals["things/a"] != "1" {
		t.Fatalf("after Close the mirror holds %v", vals)
	}
}

// Cancelling Run's context ends it at once, whether NATS is up or not,
// and leaves no goroutine of its watch behind.
func TestCancelEndsRun(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	ns := natstest.Start(t)
	nc, js := natstest.JetStream(t, ns)
	kv := bucket(t, js, "things")
	m := newMirror()
	var healthy atomic.Bool
	f := follower(t, nc, m, &healthy, kv)
	for _, down := range []bool{false, true} {
		w, err := f.Open(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, f, w, nil)
		testutil.Eventually(t, time.Second, "healthy", healthy.Load)
		if down {
			ns.Shutdown()
			testutil.Eventually(t, 5*time.Second, "unhealthy", func() bool { return !healthy.Load() })
		}
		begin := time.Now()
		stop()
		if d := time.Since(begin); d > time.Second {
			t.Errorf("NATS down %v: Run took %s to return", down, d)
		}
		if healthy.Load() {
			t.Error("Healthy after Run returned")
		}
	}
}

// Open fails within LoadTimeout when NATS does not answer, naming the
// connection's state, and at once when its context ends.
func TestOpenUnreachable(t *testing.T) {
	ns := natstest.Start(t)
	nc, js := natstest.JetStream(t, ns)
	kv := bucket(t, js, "things")
	ns.Shutdown()
	testutil.Eventually(t, 5*time.Second, "disconnected", func() bool { return !nc.IsConnected() })

	m := newMirror()
	f := follower(t, nc, m, nil, kv)
	f.LoadTimeout = 300 * time.Millisecond
	begin := time.Now()
	_, err := f.Open(context.Background())
	if err == nil {
		t.Fatal("Open succeeded without NATS")
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Open took %s to fail", d)
	}
	if msg := err.Error(); !strings.Contains(msg, "loading test records") || !strings.Contains(msg, "NATS connection to") {
		t.Errorf("error %q does not say what failed and why", msg)
	}

	f.LoadTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Open(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open with an ending context = %v", err)
	}
	if _, _, loads, done := m.snapshot(); done != 0 {
		t.Errorf("%d failed loads (of %d) were finished", done, loads)
	}
}

// With PerEntryTimeout a load may take longer than LoadTimeout in total.
func TestPerEntryTimeout(t *testing.T) {
	nc, js := natstest.JetStream(t, natstest.Start(t))
	kv := bucket(t, js, "things")
	for i := range 5 {
		write(t, kv, fmt.Sprint(i)+"=v")
	}
	m := newMirror()
	f := follower(t, nc, m, nil, kv)
	f.LoadTimeout, f.PerEntryTimeout = 100*time.Millisecond, true
	slow := f.Load
	f.Load = func() (func(jetstream.KeyValueEntry), func()) {
		add, done := slow()
		return func(e jetstream.KeyValueEntry) {
			time.Sleep(40 * time.Millisecond) // a slow consumer, not synchronisation
			add(e)
		}, done
	}
	w, err := f.Open(testCtx(t))
	if err != nil {
		t.Fatalf("Open with 5 entries of 40ms each and a 100ms per-entry timeout: %v", err)
	}
	w.Stop()
	f.PerEntryTimeout = false
	if _, err := f.Open(testCtx(t)); err == nil || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("Open with a 100ms timeout in all = %v, want a timeout", err)
	}
}

// fakeWatcher is a KeyWatcher on a channel the benchmark fills.
type fakeWatcher chan jetstream.KeyValueEntry

func (w fakeWatcher) Updates() <-chan jetstream.KeyValueEntry { return w }
func (w fakeWatcher) Stop() error                             { return nil }

// BenchmarkWait measures what Run's select over a run-time number of
// watches costs per change, on top of applying it.
func BenchmarkWait(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("buckets=%d", n), func(b *testing.B) {
			w := &Watch{}
			for range n {
				w.watchers = append(w.watchers, make(fakeWatcher, 1))
			}
			feed := w.watchers[n-1].(fakeWatcher)
			status := make(chan nats.Status)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				feed <- nil
				if ev := wait(ctx, nil, status, w); ev.kind != evEntry {
					b.Fatalf("event %d, want an entry", ev.kind)
				}
			}
		})
	}
}
