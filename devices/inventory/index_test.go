package inventory

import (
	"fmt"
	"slices"
	"testing"
)

// The index ends in the same state whatever order a write's two arrivals
// (local and from the watch) interleave with other writes.
func TestIndexOrdering(t *testing.T) {
	type step struct {
		op  string // "local", "watch", "localDel" (of the record at rev), "watchDel"
		rev uint64
	}
	tests := []struct {
		name    string
		steps   []step
		wantRev uint64 // 0: absent
		changes int
	}{
		{"local then watch", []step{{"local", 5}, {"watch", 5}}, 5, 1},
		{"watch then local", []step{{"watch", 5}, {"local", 5}}, 5, 1},
		{"late local behind another writer", []step{{"watch", 5}, {"watch", 6}, {"local", 5}}, 6, 2},
		{"late local after a watched write past it", []step{{"watch", 6}, {"local", 5}}, 6, 1},
		{"newer local, then watch catches up", []step{{"local", 5}, {"local", 7}, {"watch", 5}, {"watch", 7}}, 7, 2},
		{"local delete, then the watch's old put", []step{{"local", 5}, {"localDel", 5}, {"watch", 5}}, 0, 2},
		{"local delete, then a late local put", []step{{"watch", 4}, {"localDel", 4}, {"local", 4}}, 0, 2},
		{"local delete seen by watch, then re-created", []step{{"watch", 5}, {"localDel", 5}, {"watchDel", 6}, {"watch", 7}}, 7, 3},
		{"watched delete, then a late local put", []step{{"watch", 5}, {"watchDel", 6}, {"local", 5}}, 0, 2},
		{"watched delete of an older record only", []step{{"local", 8}, {"watchDel", 6}}, 8, 1},
		{"local delete of an old record keeps a newer one", []step{{"watch", 5}, {"watch", 7}, {"localDel", 5}}, 7, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newIndex(0)
			changes := 0
			for _, s := range tt.steps {
				var ok bool
				switch s.op {
				case "local", "watch":
					d := Device{EndpointID: dev1, Status: StatusOnline, Model: "M", Revision: s.rev}
					_, ok = x.put(d, s.op == "local")
				case "localDel":
					_, ok = x.removeLocal(dev1, s.rev)
				case "watchDel":
					_, ok = x.removeWatched(dev1, s.rev)
				}
				if s.op == "watch" || s.op == "watchDel" {
					x.sawRevision(s.rev)
				}
				if ok {
					changes++
				}
			}
			e, present := x.byID[dev1]
			switch {
			case tt.wantRev == 0 && present:
				t.Errorf("present at revision %d, want absent", e.d.Revision)
			case tt.wantRev != 0 && (!present || e.d.Revision != tt.wantRev):
				t.Errorf("present %v, want revision %d", present, tt.wantRev)
			}
			if changes != tt.changes {
				t.Errorf("%d changes, want %d", changes, tt.changes)
			}
			wantLen, online := 0, 0
			if present {
				wantLen, online = 1, 1
			}
			if len(x.list) != wantLen || x.online != online || x.byModel["M"] != online {
				t.Errorf("list %d, online %d, byModel %v", len(x.list), x.online, x.byModel)
			}
		})
	}
}

// Adding and removing keeps the list sorted by endpoint ID and consistent
// with byID, and a snapshot builds the same index.
func TestIndexKeepsOrder(t *testing.T) {
	x := newIndex(0)
	snap := newSnapshot(0)
	for _, n := range []int{5, 1, 9, 3, 0, 7, 2, 8, 4, 6} {
		eid, fn := fixture(n)
		d := Device{EndpointID: eid, Revision: uint64(n + 1)}
		fn(&d)
		x.put(d, false)
		snap.add(d)
	}
	check := func(x *index, want ...int) {
		t.Helper()
		var got []int
		for _, e := range x.list {
			if x.byID[e.d.EndpointID] != e {
				t.Errorf("%s: list and byID disagree", e.d.EndpointID)
			}
			var n int
			fmt.Sscanf(e.d.EndpointID, "os::q-%d", &n)
			got = append(got, n)
		}
		if !slices.Equal(got, want) || len(x.byID) != len(want) {
			t.Errorf("list %v, want %v; byID has %d", got, want, len(x.byID))
		}
	}
	check(x, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	check(snap.build(), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	for _, n := range []int{3, 0, 9, 5} {
		eid, _ := fixture(n)
		if _, ok := x.removeWatched(eid, 100); !ok {
			t.Fatalf("removing %s", eid)
		}
	}
	check(x, 1, 2, 4, 6, 7, 8)
	if x.online+x.offline != 6 {
		t.Errorf("counted %d online, %d offline", x.online, x.offline)
	}
}
