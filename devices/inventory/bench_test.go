package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

const benchDevices = 100_000

// benchDevice makes device n of a synthetic fleet: a dozen models from four
// makers, twenty software versions, 70% online, two or three labels, a
// Boot! event, last-seen times spread over a day, and status-since times
// that grow with n, as when a fleet is rolled out in serial order.
func benchDevice(n int, rng *rand.Rand) Device {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	model := n % 12
	status := StatusOnline
	if rng.IntN(10) < 3 {
		status = StatusOffline
	}
	d := Device{
		EndpointID:      fmt.Sprintf("os::dev-%06d", n),
		Status:          status,
		StatusSince:     base.Add(time.Duration(n)*time.Second + time.Duration(rng.IntN(600))*time.Second), // provisioned in order
		LastSeen:        base.Add(time.Duration(rng.IntN(86400_000)) * time.Millisecond),
		Manufacturer:    []string{"Acme Networks", "Globex", "Initech", "Umbrella CPE"}[model%4],
		ManufacturerOUI: []string{"00D09E", "001A2B", "00E0FC", "3C7A8A"}[model%4],
		Model:           fmt.Sprintf("RG-%d00", model+1),
		ProductClass:    "HGW",
		SerialNumber:    fmt.Sprintf("SN%08X", n*7919),
		SoftwareVersion: fmt.Sprintf("4.%d.%d", rng.IntN(4), rng.IntN(5)),
		HardwareVersion: "rev" + string(rune('A'+model%3)),
		Boot: &Boot{
			Time: base, Cause: "LocalReboot", Reason: "power-on",
			ParameterMap: map[string]string{"Device.DeviceInfo.SoftwareVersion": "4.1.0"},
		},
		Labels: map[string]string{
			"site": fmt.Sprintf("site-%02d", rng.IntN(20)),
			"tier": []string{"gold", "silver", "bronze"}[rng.IntN(3)],
		},
		BrokerNode: "broker-1",
		Remote:     fmt.Sprintf("198.51.%d.%d", n/256%256, n%256),
		ReplyTopic: "usp/v1/agent/os::dev",
		Subscribed: true,
		Created:    base,
		Updated:    base,
		Revision:   uint64(n + 1),
	}
	if n%50 == 0 {
		d.Labels["beta"] = "yes"
	}
	return d
}

// benchInventory builds an inventory holding n devices, in memory only:
// the query path does no I/O. It loads them as a reload does.
func benchInventory(n int) *Inventory {
	snap := newSnapshot(n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		snap.add(benchDevice(i, rng))
	}
	return &Inventory{log: slog.New(slog.DiscardHandler), idx: snap.build()}
}

// benchQueries are the shapes the console and API send.
var benchQueries = []struct {
	name string
	q    Query
}{
	{"all/endpoint_id", Query{}},
	{"all/-endpoint_id", Query{Sort: "-endpoint_id"}},
	{"online/-last_seen", Query{Status: StatusOnline, Sort: "-last_seen"}},
	{"model+version/status_since", Query{Model: "RG-300", SoftwareVersion: "4.1.2", Sort: "status_since"}},
	{"labels/model", Query{Labels: "site=site-07,tier!=gold", Sort: "model"}},
	{"label-exists/endpoint_id", Query{Labels: "beta"}},
	{"text-5%/endpoint_id", Query{Text: "SITE-07"}},
	{"text-none/endpoint_id", Query{Text: "no-such-thing"}},
	{"text-serial/-last_seen", Query{Text: "sn0001", Sort: "-last_seen"}},
	{"all/-last_seen/limit1000", Query{Sort: "-last_seen", Limit: MaxLimit}},
}

// benchQuery is one query shape, against one inventory.
type benchQuery struct {
	name string
	inv  *Inventory
	q    Query
}

// BenchmarkQuery100k runs each query shape over 100,000 devices, a page
// 50,000 devices deep through a cursor, and the heap's worst case. Besides
// ns/op it reports the median latency (p50-ms), which is what the
// console's target is about, and how many devices matched.
func BenchmarkQuery100k(b *testing.B) {
	inv := benchInventory(benchDevices)
	var queries []benchQuery
	for _, bq := range benchQueries {
		queries = append(queries, benchQuery{bq.name, inv, bq.q})
	}
	deep := Query{Sort: "-last_seen", Limit: MaxLimit}
	for range 50 {
		p, err := inv.Query(deep)
		if err != nil {
			b.Fatal(err)
		}
		deep.Cursor = p.Next
	}
	deep.Limit = DefaultLimit
	queries = append(queries, benchQuery{"deep-page-50k/-last_seen", inv, deep})
	// The worst case for the heap: a key that falls as the endpoint ID
	// grows, so every device scanned beats the page's worst so far.
	worst := benchInventory(benchDevices)
	for n, e := range worst.idx.list {
		e.d.StatusSince = time.Unix(int64(benchDevices-n), 0)
	}
	queries = append(queries, benchQuery{"worst-case/status_since", worst, Query{Sort: "status_since"}})

	for _, bq := range queries {
		b.Run(bq.name, func(b *testing.B) {
			var lat []time.Duration
			var page Page
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				var err error
				if page, err = bq.inv.Query(bq.q); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(page.Total), "matches")
		})
	}
}

// BenchmarkUpdate measures applying one changed device to an index of
// 100,000, as the watch does for every write: replacing the entry,
// rebuilding its search text and moving the dashboard counters.
func BenchmarkUpdate(b *testing.B) {
	inv := benchInventory(benchDevices)
	rng := rand.New(rand.NewPCG(3, 4))
	updates := make([]Device, 1024)
	for n := range updates {
		updates[n] = benchDevice(rng.IntN(benchDevices), rng)
	}
	rev := uint64(benchDevices + 1)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d := updates[n%len(updates)]
		d.Revision = rev
		rev++
		n++
		inv.commit(func() []change { return one(inv.idx.put(d, false)) })
	}
}

// BenchmarkUpdateKV measures a whole Update through embedded NATS: read
// from memory, encode, conditional KV write, apply. Its cost is mostly
// the KV round trip.
func BenchmarkUpdateKV(b *testing.B) {
	inv, err := Open(context.Background(), Config{JetStream: newJS(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		eid := fmt.Sprintf("os::dev-%06d", n%1000)
		if _, err := inv.Update(ctx, eid, func(d *Device) error {
			d.LastSeen = time.Unix(int64(n), 0)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndexMemory reports the heap an index of 100,000 devices takes,
// per device, with everything it holds (records, search text, maps).
func BenchmarkIndexMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		inv := benchInventory(benchDevices)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchDevices, "B/device")
		runtime.KeepAlive(inv)
	}
}

// BenchmarkOpen100k measures loading 100,000 stored devices from embedded
// NATS, which is what a controller does at start and after every
// reconnect.
func BenchmarkOpen100k(b *testing.B) {
	js := newJS(b)
	ctx := context.Background()
	kv, err := openBucket(ctx, js, jetstream.KeyValueConfig{Bucket: DefaultBucket, History: 1}, 0)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range benchDevices {
		val, _ := json.Marshal(benchDevice(n, rng))
		// Asynchronous publishes to the bucket's subjects fill it in
		// seconds rather than minutes of Put round trips.
		if _, err := js.PublishAsync("$KV."+kv.Bucket()+"."+creds.EncodeKey(fmt.Sprintf("os::dev-%06d", n)), val); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing did not complete")
	}
	for b.Loop() {
		inv, err := Open(ctx, Config{JetStream: js})
		if err != nil {
			b.Fatal(err)
		}
		if got := inv.Stats().Total; got != benchDevices {
			b.Fatalf("loaded %d devices", got)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_ = inv.Run(cctx) // releases the watch
	}
}
