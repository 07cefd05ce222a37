package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/broker/creds"
	"cuttle/internal/testutil"
)

const (
	dev1 = "os::012345-0001"
	dev2 = "os::012345-0002"
)

func TestUpdateCreatesAndModifies(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	js := newJS(t)
	inv := open(t, js)
	ctx := testCtx(t)

	before := time.Now().UTC()
	d := put(t, inv, dev1, func(d *Device) { d.Model = "RG-1"; d.Manufacturer = "Acme" })
	if d.EndpointID != dev1 || d.Status != StatusOffline || d.Model != "RG-1" || d.Labels == nil || d.Revision == 0 {
		t.Fatalf("created %+v", d)
	}
	if d.Created.Before(before) || !d.Updated.Equal(d.Created) {
		t.Errorf("Created %v, Updated %v; want both the creation time", d.Created, d.Updated)
	}
	if got, ok := inv.Get(dev1); !ok || got.Revision != d.Revision || got.Model != "RG-1" {
		t.Fatalf("Get after create = %+v, %v", got, ok)
	}

	// The stored value is the JSON the API serves, labels {} included.
	e, err := inv.kv.Get(ctx, creds.EncodeKey(dev1))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(e.Value(), &raw); err != nil {
		t.Fatal(err)
	}
	if l, ok := raw["labels"].(map[string]any); !ok || len(l) != 0 {
		t.Errorf("stored labels = %v, want {}", raw["labels"])
	}
	if raw["endpoint_id"] != dev1 || raw["status"] != "offline" {
		t.Errorf("stored %s", e.Value())
	}

	d2 := put(t, inv, dev1, func(d *Device) { d.SoftwareVersion = "2.0"; d.Created = time.Time{} })
	if !d2.Created.Equal(d.Created) || !d2.Updated.After(d.Updated) || d2.Revision <= d.Revision || d2.Model != "RG-1" {
		t.Errorf("after modify: %+v (was %+v)", d2, d)
	}

	// Changing nothing writes nothing.
	d3 := put(t, inv, dev1, func(d *Device) { d.SoftwareVersion = "2.0" })
	if d3.Revision != d2.Revision || !d3.Updated.Equal(d2.Updated) {
		t.Errorf("no-op update wrote: revision %d -> %d", d2.Revision, d3.Revision)
	}

	// A changed copy from Get does not touch the index.
	got, _ := inv.Get(dev1)
	got.Labels["x"] = "y"
	if again, _ := inv.Get(dev1); len(again.Labels) != 0 {
		t.Error("modifying a Get result changed the index")
	}
}

func TestUpdateErrors(t *testing.T) {
	inv := open(t, newJS(t))
	ctx := testCtx(t)
	put(t, inv, dev1, func(d *Device) {})
	boom := errors.New("boom")
	tests := []struct {
		name  string
		eid   string
		fn    func(d *Device) error
		want  error
		field string
	}{
		{"bad endpoint ID", "not-an-endpoint", func(*Device) error { return nil }, ErrInvalid, "endpoint_id"},
		{"fn error", dev1, func(*Device) error { return boom }, boom, ""},
		{"change endpoint ID", dev1, func(d *Device) error { d.EndpointID = dev2; return nil }, ErrInvalid, "endpoint_id"},
		{"bad status", dev1, func(d *Device) error { d.Status = "asleep"; return nil }, ErrInvalid, "status"},
		{"bad label", dev1, func(d *Device) error { d.Labels["a b"] = "c"; return nil }, ErrInvalid, "labels[a b]"},
		{"too many labels", dev1, func(d *Device) error {
			for n := range MaxLabels + 1 {
				d.Labels[strconv.Itoa(n)] = "v"
			}
			return nil
		}, ErrInvalid, "labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inv.Update(ctx, tt.eid, tt.fn)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Update = %v, want %v", err, tt.want)
			}
			if tt.field != "" {
				if fe, ok := errors.AsType[*FieldError](err); !ok || fe.Field != tt.field {
					t.Errorf("error %v: want field %q", err, tt.field)
				}
			}
		})
	}
	if d, _ := inv.Get(dev1); d.Status != StatusOffline || len(d.Labels) != 0 {
		t.Errorf("failed updates changed the device: %+v", d)
	}
}

// Twenty writers incrementing one counter: compare-and-set with retries
// loses none of the increments.
func TestUpdateConcurrentNoLostUpdate(t *testing.T) {
	js, js2 := twoConns(t)
	inv := open(t, js)
	other := open(t, js2) // a second replica writing too
	put(t, inv, dev1, func(d *Device) { d.Labels["n"] = "0" })
	testutil.Eventually(t, seenDeadline, "other replica sees the device", func() bool { _, ok := other.Get(dev1); return ok })

	const writers = 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := make(chan struct{}) // all at once, for the most conflicts
	for w := range writers {
		target := inv
		if w%2 == 1 {
			target = other
		}
		wg.Go(func() {
			<-start
			_, err := target.Update(testCtx(t), dev1, func(d *Device) error {
				n, err := strconv.Atoi(d.Labels["n"])
				d.Labels["n"] = strconv.Itoa(n + 1)
				return err
			})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Update: %v", err)
		}
	}
	for _, i := range []*Inventory{inv, other} {
		testutil.Eventually(t, seenDeadline, "both replicas see 20 increments", func() bool {
			d, _ := i.Get(dev1)
			return d.Labels["n"] == strconv.Itoa(writers)
		})
	}
}

func TestDelete(t *testing.T) {
	inv := open(t, newJS(t))
	ctx := testCtx(t)
	first := put(t, inv, dev1, func(d *Device) { d.Model = "RG-1" })
	if err := inv.Delete(ctx, dev1); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := inv.Get(dev1); ok {
		t.Fatal("Get finds a deleted device")
	}
	if err := inv.Delete(ctx, dev1); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := inv.Delete(ctx, dev2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an unknown device = %v, want ErrNotFound", err)
	}
	// The watch's copy of the old record must not bring it back.
	time.Sleep(50 * time.Millisecond)
	if _, ok := inv.Get(dev1); ok {
		t.Fatal("deleted device came back")
	}
	again := put(t, inv, dev1, func(d *Device) {})
	if again.Model != "" || !again.Created.After(first.Created) {
		t.Errorf("re-created device = %+v, want a fresh record", again)
	}
}

func TestSetLabels(t *testing.T) {
	inv := open(t, newJS(t))
	ctx := testCtx(t)
	put(t, inv, dev1, func(d *Device) { d.Labels["site"] = "north"; d.Labels["old"] = "x" })

	d, err := inv.SetLabels(ctx, dev1, map[string]string{"tier": "gold", "site": "south", "k8s.io/zone": "Rack 5 / slot 3"}, []string{"old", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tier": "gold", "site": "south", "k8s.io/zone": "Rack 5 / slot 3"}
	if !maps.Equal(d.Labels, want) {
		t.Errorf("labels = %v, want %v", d.Labels, want)
	}

	long := strings.Repeat("a", 64)
	tests := []struct {
		name   string
		eid    string
		set    map[string]string
		remove []string
		want   error
		field  string
	}{
		{"empty key", dev1, map[string]string{"": "v"}, nil, ErrInvalid, "labels[]"},
		{"long key", dev1, map[string]string{long: "v"}, nil, ErrInvalid, "labels[" + long + "]"},
		{"key with =", dev1, map[string]string{"a=b": "v"}, nil, ErrInvalid, "labels[a=b]"},
		{"key with space", dev1, map[string]string{"a b": "v"}, nil, ErrInvalid, "labels[a b]"},
		{"long value", dev1, map[string]string{"k": long}, nil, ErrInvalid, "labels[k]"},
		{"value with comma", dev1, map[string]string{"k": "a,b"}, nil, ErrInvalid, "labels[k]"},
		{"value with newline", dev1, map[string]string{"k": "a\nb"}, nil, ErrInvalid, "labels[k]"},
		{"value with edge space", dev1, map[string]string{"k": " a"}, nil, ErrInvalid, "labels[k]"},
		{"value not UTF-8", dev1, map[string]string{"k": "\xff"}, nil, ErrInvalid, "labels[k]"},
		{"bad key to remove", dev1, nil, []string{"a!"}, ErrInvalid, "labels[a!]"},
		{"set and removed", dev1, map[string]string{"k": "v"}, []string{"k"}, ErrInvalid, "labels[k]"},
		{"unknown device", dev2, map[string]string{"k": "v"}, nil, ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inv.SetLabels(ctx, tt.eid, tt.set, tt.remove)
			if !errors.Is(err, tt.want) {
				t.Fatalf("SetLabels = %v, want %v", err, tt.want)
			}
			if tt.field != "" {
				if fe, ok := errors.AsType[*FieldError](err); !ok || fe.Field != tt.field {
					t.Errorf("error %v: want field %q", err, tt.field)
				}
			}
		})
	}
	if _, ok := inv.Get(dev2); ok {
		t.Error("SetLabels created a device")
	}
	// Printable Unicode is fine.
	if _, err := inv.SetLabels(ctx, dev1, map[string]string{"owner": "Zoë (ops) #3 = ok!"}, nil); err != nil {
		t.Errorf("SetLabels with a printable Unicode value: %v", err)
	}
}

// A second controller replica on the same bucket sees every write of the
// first within a second, and the reverse.
func TestSecondReplicaSeesWrites(t *testing.T) {
	testutil.CheckGoroutines(t, 5*time.Second)
	js, js2 := twoConns(t)
	a := open(t, js)
	b := open(t, js2)

	begin := time.Now()
	put(t, a, dev1, func(d *Device) { d.Model = "RG-1"; d.Labels["site"] = "north" })
	testutil.Eventually(t, seenDeadline, "b sees a's create", func() bool { d, ok := b.Get(dev1); return ok && d.Model == "RG-1" })
	t.Logf("create seen by the other replica after %s", time.Since(begin).Round(time.Microsecond))

	put(t, b, dev1, func(d *Device) { d.SoftwareVersion = "1.2" })
	testutil.Eventually(t, seenDeadline, "a sees b's change", func() bool { d, _ := a.Get(dev1); return d.SoftwareVersion == "1.2" })

	if err := b.Delete(testCtx(t), dev1); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, seenDeadline, "a sees b's delete", func() bool { _, ok := a.Get(dev1); return !ok })
	if s := a.Stats(); s.Total != 0 || len(s.ByModel) != 0 {
		t.Errorf("Stats after delete = %+v", s)
	}
}

type event struct {
	old, new string // endpoint ID and model, "" for none
	deleted  bool
}

func TestSubscribe(t *testing.T) {
	js, js2 := twoConns(t)
	inv := open(t, js)
	other := open(t, js2)
	var mu sync.Mutex
	var got []event
	cancel := inv.Subscribe(func(old, new Device, deleted bool) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, event{describe(old), describe(new), deleted})
		if !deleted {
			new.Labels["mine"] = "x" // subscribers get their own copies
		}
	})
	events := func() []event {
		mu.Lock()
		defer mu.Unlock()
		return append([]event(nil), got...)
	}

	put(t, inv, dev1, func(d *Device) { d.Model = "A" })
	put(t, inv, dev1, func(d *Device) { d.Model = "B" })
	put(t, other, dev2, func(d *Device) { d.Model = "C" })
	testutil.Eventually(t, seenDeadline, "other's write seen", func() bool { return len(events()) == 3 })
	if err := inv.Delete(testCtx(t), dev1); err != nil {
		t.Fatal(err)
	}
	want := []event{
		{"", dev1 + "/A", false},
		{dev1 + "/A", dev1 + "/B", false},
		{"", dev2 + "/C", false},
		{dev1 + "/B", "", true},
	}
	testutil.Eventually(t, seenDeadline, "delete reported", func() bool { return len(events()) >= len(want) })
	time.Sleep(50 * time.Millisecond) // the watch confirming our writes must not report them again
	if g := events(); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("events:\n got %v\nwant %v", g, want)
	}
	if d, _ := inv.Get(dev2); d.Labels["mine"] != "" {
		t.Error("a subscriber's change reached the index")
	}

	cancel()
	put(t, inv, dev1, func(d *Device) {})
	time.Sleep(50 * time.Millisecond)
	if n := len(events()); n != len(want) {
		t.Errorf("%d events after cancel", n-len(want))
	}
}

// A subscriber may write to the inventory: its change is delivered after
// the one it reacts to, without deadlock.
func TestSubscriberWrites(t *testing.T) {
	inv := open(t, newJS(t))
	ctx := testCtx(t)
	var mu sync.Mutex
	var seen []string
	inv.Subscribe(func(old, new Device, deleted bool) {
		mu.Lock()
		seen = append(seen, describe(new))
		mu.Unlock()
		if new.Model == "A" {
			if _, err := inv.SetLabels(ctx, new.EndpointID, map[string]string{"seen": "yes"}, nil); err != nil {
				t.Errorf("SetLabels from a subscriber: %v", err)
			}
			inv.Query(Query{}) // and may read
		}
	})
	put(t, inv, dev1, func(d *Device) { d.Model = "A" })
	// The subscriber runs on whichever goroutine applied the change first:
	// this one, or the watch's.
	testutil.Eventually(t, seenDeadline, "the subscriber's write", func() bool {
		d, _ := inv.Get(dev1)
		return d.Labels["seen"] == "yes"
	})
	testutil.Eventually(t, seenDeadline, "the subscriber's write reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{dev1 + "/A", dev1 + "/A"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("seen %v, want %v", seen, want)
	}
}

func describe(d Device) string {
	if d.EndpointID == "" {
		return ""
	}
	return d.EndpointID + "/" + d.Model
}

func TestDeviceJSON(t *testing.T) {
	b, err := json.Marshal(Device{EndpointID: dev1, Status: StatusOnline})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"labels":{}`, `"endpoint_id":"os::012345-0001"`, `"last_seen":"0001-01-01T00:00:00Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	for _, absent := range []string{"Revision", "boot", "reply_topic", "subscribed"} {
		if strings.Contains(string(b), absent) {
			t.Errorf("%s has %s", b, absent)
		}
	}
	b, _ = json.Marshal(&Device{Boot: &Boot{Cause: "LocalReboot", CommandKey: "k", FirmwareUpdated: true}})
	if !strings.Contains(string(b), `"boot":{"time":"0001-01-01T00:00:00Z","cause":"LocalReboot","command_key":"k","reason":"","firmware_updated":true}`) {
		t.Errorf("boot JSON: %s", b)
	}
}
