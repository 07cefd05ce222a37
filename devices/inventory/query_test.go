package inventory

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cuttle/internal/testutil"
)

var (
	queryBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	models    = []string{"RG-1", "RG-2", "AP-9", "STB-X"}
	makers    = []string{"Acme", "Globex"}
	versions  = []string{"1.0", "1.1", "2.0", "2.1", "3.0"}
)

// fixture describes device n of the query tests. Keys are spread so that
// every filter and sort has several matches and ties.
func fixture(n int) (string, func(d *Device)) {
	eid := fmt.Sprintf("os::q-%03d", n)
	return eid, func(d *Device) {
		d.Status = StatusOnline
		if n%3 == 0 {
			d.Status = StatusOffline
		}
		d.Model = models[n%4]
		d.Manufacturer = makers[n%2]
		d.SoftwareVersion = versions[n%5]
		d.SerialNumber = fmt.Sprintf("SN%05d", n*7)
		d.LastSeen = queryBase.Add(time.Duration(n*37%40) * time.Minute) // a permutation
		d.StatusSince = queryBase.Add(time.Duration(n%10) * time.Hour)   // ties
		d.Labels = map[string]string{"site": "south"}
		if n%2 == 0 {
			d.Labels["site"] = "north"
		}
		if n%5 == 0 {
			d.Labels["tier"] = "gold"
		} else if n%5 == 1 {
			d.Labels["tier"] = "silver"
		}
		if n%7 == 0 {
			d.Labels["beta"] = ""
		}
	}
}

const nFixtures = 40

// loadFixtures writes nFixtures devices, in parallel to save time.
func loadFixtures(t *testing.T, inv *Inventory) []Device {
	t.Helper()
	var wg sync.WaitGroup
	for n := range nFixtures {
		wg.Go(func() {
			eid, fn := fixture(n)
			put(t, inv, eid, fn)
		})
	}
	wg.Wait()
	all := make([]Device, 0, nFixtures)
	for n := range nFixtures {
		eid, _ := fixture(n)
		d, ok := inv.Get(eid)
		if !ok {
			t.Fatalf("%s missing", eid)
		}
		all = append(all, d)
	}
	return all
}

// oracleKey extracts the sort key the slow, obvious way.
func oracleKey(name string, d Device) string {
	switch name {
	case "last_seen":
		return d.LastSeen.Format("2006-01-02T15:04:05.000000000")
	case "status_since":
		return d.StatusSince.Format("2006-01-02T15:04:05.000000000")
	case "status":
		return d.Status
	case "model":
		return d.Model
	case "software_version":
		return d.SoftwareVersion
	}
	return d.EndpointID
}

// oracleSort sorts as the documentation says: by the key, then by endpoint
// ID, all reversed for "-".
func oracleSort(ds []Device, sort string) []Device {
	name, desc := strings.CutPrefix(cmp.Or(sort, "endpoint_id"), "-")
	out := slices.Clone(ds)
	slices.SortFunc(out, func(a, b Device) int {
		c := strings.Compare(oracleKey(name, a), oracleKey(name, b))
		if c == 0 {
			c = strings.Compare(a.EndpointID, b.EndpointID)
		}
		if desc {
			c = -c
		}
		return c
	})
	return out
}

func TestQueryFilters(t *testing.T) {
	inv := open(t, newJS(t))
	all := loadFixtures(t, inv)
	tests := []struct {
		name string
		q    Query
		want func(d Device) bool
	}{
		{"everything", Query{}, func(Device) bool { return true }},
		{"online", Query{Status: "online"}, func(d Device) bool { return d.Status == StatusOnline }},
		{"offline", Query{Status: "offline"}, func(d Device) bool { return d.Status == StatusOffline }},
		{"model", Query{Model: "RG-2"}, func(d Device) bool { return d.Model == "RG-2" }},
		{"model is exact", Query{Model: "rg-2"}, func(Device) bool { return false }},
		{"manufacturer", Query{Manufacturer: "Globex"}, func(d Device) bool { return d.Manufacturer == "Globex" }},
		{"software version", Query{SoftwareVersion: "2.0"}, func(d Device) bool { return d.SoftwareVersion == "2.0" }},
		{"all exact filters", Query{Status: "online", Model: "RG-1", Manufacturer: "Acme", SoftwareVersion: "1.0"}, func(d Device) bool {
			return d.Status == StatusOnline && d.Model == "RG-1" && d.Manufacturer == "Acme" && d.SoftwareVersion == "1.0"
		}},
		{"label equals", Query{Labels: "site=north"}, func(d Device) bool { return d.Labels["site"] == "north" }},
		{"label equals, ==", Query{Labels: "site==north"}, func(d Device) bool { return d.Labels["site"] == "north" }},
		{"label not equal", Query{Labels: "tier!=gold"}, func(d Device) bool { return d.Labels["tier"] != "gold" }},
		{"label exists", Query{Labels: "tier"}, func(d Device) bool { _, ok := d.Labels["tier"]; return ok }},
		{"label absent", Query{Labels: "!tier"}, func(d Device) bool { _, ok := d.Labels["tier"]; return !ok }},
		{"empty label value", Query{Labels: "beta="}, func(d Device) bool { v, ok := d.Labels["beta"]; return ok && v == "" }},
		{"label terms combined", Query{Labels: " site = north , tier!=gold,!beta "}, func(d Device) bool {
			_, beta := d.Labels["beta"]
			return d.Labels["site"] == "north" && d.Labels["tier"] != "gold" && !beta
		}},
		{"labels and status", Query{Labels: "tier", Status: "offline"}, func(d Device) bool {
			_, ok := d.Labels["tier"]
			return ok && d.Status == StatusOffline
		}},
		{"text in endpoint ID, any case", Query{Text: "Q-01"}, func(d Device) bool { return strings.HasPrefix(d.EndpointID, "os::q-01") }},
		{"text in serial", Query{Text: "sn00021"}, func(d Device) bool { return d.SerialNumber == "SN00021" }},
		{"text in model", Query{Text: "stb"}, func(d Device) bool { return d.Model == "STB-X" }},
		{"text in manufacturer", Query{Text: "globe"}, func(d Device) bool { return d.Manufacturer == "Globex" }},
		{"text in software version", Query{Text: "3.0"}, func(d Device) bool { return d.SoftwareVersion == "3.0" }},
		{"text in label value", Query{Text: "SILVER"}, func(d Device) bool { return d.Labels["tier"] == "silver" }},
		{"text not in label key", Query{Text: "tier"}, func(Device) bool { return false }},
		{"text does not span fields", Query{Text: "acme1.0"}, func(Device) bool { return false }},
		{"text and filter", Query{Text: "north", Model: "AP-9"}, func(d Device) bool { return d.Labels["site"] == "north" && d.Model == "AP-9" }},
		{"no match", Query{Text: "nothing-like-this"}, func(Device) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			q.Limit = MaxLimit
			page, err := inv.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range all {
				if tt.want(d) {
					want = append(want, d.EndpointID)
				}
			}
			if got := ids(page.Devices); !slices.Equal(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
			if page.Total != len(want) || page.Next != "" {
				t.Errorf("Total %d, Next %q; want %d, none", page.Total, page.Next, len(want))
			}
		})
	}
}

func TestQuerySortAndPages(t *testing.T) {
	inv := open(t, newJS(t))
	all := loadFixtures(t, inv)
	for _, key := range SortKeys {
		for _, sort := range []string{key, "-" + key} {
			t.Run(sort, func(t *testing.T) {
				want := ids(oracleSort(all, sort))
				page, err := inv.Query(Query{Sort: sort, Limit: MaxLimit})
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(page.Devices); !slices.Equal(got, want) {
					t.Fatalf("one page:\n got %v\nwant %v", got, want)
				}
				// The same order, 7 at a time.
				var got []string
				cursor := ""
				for range nFixtures {
					p, err := inv.Query(Query{Sort: sort, Limit: 7, Cursor: cursor})
					if err != nil {
						t.Fatal(err)
					}
					if p.Total != nFixtures {
						t.Fatalf("Total = %d", p.Total)
					}
					got = append(got, ids(p.Devices)...)
					if cursor = p.Next; cursor == "" {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("7 at a time:\n got %v\nwant %v", got, want)
				}
			})
		}
	}
	if p, _ := inv.Query(Query{}); len(p.Devices) != DefaultLimit && len(p.Devices) != nFixtures {
		t.Errorf("default page has %d devices", len(p.Devices))
	}
}

// Devices inserted between pages, before and after the cursor, neither
// repeat nor hide the devices that were there all along.
func TestQueryPagesStableUnderInserts(t *testing.T) {
	inv := open(t, newJS(t))
	all := loadFixtures(t, inv)
	inserted := 0
	for _, sort := range []string{"endpoint_id", "-last_seen", "model", "-status_since"} {
		t.Run(sort, func(t *testing.T) {
			seen := map[string]int{}
			cursor := ""
			for page := range 2 * nFixtures {
				p, err := inv.Query(Query{Sort: sort, Limit: 5, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range p.Devices {
					seen[d.EndpointID]++
				}
				if cursor = p.Next; cursor == "" {
					break
				}
				// Some sort first, some last, some in between.
				inserted++
				n := inserted
				put(t, inv, fmt.Sprintf("os::new-%03d", n), func(d *Device) {
					d.Model = models[n%4]
					d.LastSeen = queryBase.Add(time.Duration(page*5-10) * time.Minute)
					d.StatusSince = queryBase.Add(time.Duration(n%12) * time.Hour)
				})
			}
			for _, d := range all {
				if seen[d.EndpointID] != 1 {
					t.Errorf("%s seen %d times", d.EndpointID, seen[d.EndpointID])
				}
			}
			for eid, n := range seen {
				if n != 1 {
					t.Errorf("%s seen %d times", eid, n)
				}
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	inv := open(t, newJS(t))
	loadFixtures(t, inv)
	first, err := inv.Query(Query{Sort: "-last_seen", Limit: 3})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %v, next %q", err, first.Next)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name  string
		q     Query
		field string
	}{
		{"status", Query{Status: "asleep"}, "status"},
		{"sort", Query{Sort: "serial_number"}, "sort"},
		{"sort twice descending", Query{Sort: "--model"}, "sort"},
		{"negative limit", Query{Limit: -1}, "limit"},
		{"limit too large", Query{Limit: MaxLimit + 1}, "limit"},
		{"selector syntax", Query{Labels: "site=north,,tier"}, "labels"},
		{"selector bare !", Query{Labels: "site!north"}, "labels"},
		{"selector bad key", Query{Labels: "a b=c"}, "labels"},
		{"cursor not base64", Query{Cursor: "%%%"}, "cursor"},
		{"cursor not JSON", Query{Cursor: b64("hello")}, "cursor"},
		{"cursor without ID", Query{Cursor: b64(`{"s":"endpoint_id"}`)}, "cursor"},
		{"cursor bad time", Query{Sort: "last_seen", Cursor: b64(`{"s":"last_seen","k":"yesterday","i":"x"}`)}, "cursor"},
		{"cursor of another sort", Query{Sort: "last_seen", Cursor: first.Next}, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inv.Query(tt.q)
			fe, ok := errors.AsType[*FieldError](err)
			if !errors.Is(err, ErrInvalid) || !ok || fe.Field != tt.field {
				t.Fatalf("Query(%+v) = %v, want ErrInvalid on field %q", tt.q, err, tt.field)
			}
		})
	}
	// The cursor works with its own sort, and with other filters.
	if _, err := inv.Query(Query{Sort: "-last_seen", Cursor: first.Next, Status: "online"}); err != nil {
		t.Errorf("valid cursor: %v", err)
	}
}

func TestStats(t *testing.T) {
	js, js2 := twoConns(t)
	inv := open(t, js)
	other := open(t, js2)
	all := loadFixtures(t, inv)
	want := Stats{ByModel: map[string]int{}, BySoftwareVersion: map[string]int{}, ByManufacturer: map[string]int{}}
	for _, d := range all {
		want.Total++
		if d.Status == StatusOnline {
			want.Online++
		} else {
			want.Offline++
		}
		want.ByModel[d.Model]++
		want.BySoftwareVersion[d.SoftwareVersion]++
		want.ByManufacturer[d.Manufacturer]++
	}
	check := func(i *Inventory, want Stats) {
		t.Helper()
		testutil.Eventually(t, seenDeadline, "stats", func() bool {
			s := i.Stats()
			return s.Total == want.Total && s.Online == want.Online && s.Offline == want.Offline &&
				maps.Equal(s.ByModel, want.ByModel) && maps.Equal(s.BySoftwareVersion, want.BySoftwareVersion) &&
				maps.Equal(s.ByManufacturer, want.ByManufacturer)
		})
	}
	check(inv, want)
	check(other, want)

	// Counts follow changes made anywhere, and a model that is gone leaves.
	put(t, other, "os::q-000", func(d *Device) { d.Status = StatusOnline; d.Model = "New" })
	want.Online++
	want.Offline--
	want.ByModel["RG-1"]--
	want.ByModel["New"] = 1
	check(inv, want)
	if err := inv.Delete(testCtx(t), "os::q-000"); err != nil {
		t.Fatal(err)
	}
	want.Total--
	want.Online--
	delete(want.ByModel, "New")
	want.BySoftwareVersion["1.0"]--
	want.ByManufacturer["Acme"]--
	check(other, want)
	check(inv, want)
}
