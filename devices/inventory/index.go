package inventory

import (
	"slices"
	"strings"
)

// entry is one device in the index. Its Device is never modified once
// stored: a change replaces the entry. Readers hand out clones, never the
// stored maps.
type entry struct {
	d Device
	// text is what free-text search looks in: the searched fields, lower
	// case, separated by NUL so a match cannot span two fields. Building it
	// once per write keeps ToLower out of every query.
	text string
}

// index holds every device in memory. A query scans list, a dense slice of
// pointers, which at 100,000 devices is cheaper than keeping a sorted
// structure per sort key current on every write (see query.go). The list
// is kept in endpoint ID order: the default sort and every tie-break then
// meet devices already in order, which keeps a query's top-k heap from
// churning (see Inventory.Query). That costs a memory move when a device
// is added or removed, tens of microseconds at 100,000 devices; changes to
// existing devices, by far the most common write, replace in place.
//
// Revisions order writes. Changes arrive twice, once applied by the writer
// in this process (local) and once from the KV watch, in any order, and the
// watch also delivers other processes' writes; applying only what is newer
// than what is held makes the result independent of that order.
type index struct {
	byID map[string]*entry
	list []*entry
	// watchRev is the highest revision the watch has delivered. A local
	// write at or below it is old news: the watch already applied it or
	// something newer.
	watchRev uint64
	// tombs holds, for devices this process deleted before the watch
	// caught up, the revision of the record deleted: anything at or below
	// it is older than the delete and must not bring the device back.
	tombs map[string]uint64

	online, offline int
	byModel         map[string]int
	bySW            map[string]int
	byMfr           map[string]int
}

// change is one device's change, as reported to subscribers.
type change struct {
	old, new Device
	deleted  bool
}

func newIndex(sizeHint int) *index {
	return &index{
		byID:    make(map[string]*entry, sizeHint),
		list:    make([]*entry, 0, sizeHint),
		tombs:   map[string]uint64{},
		byModel: map[string]int{},
		bySW:    map[string]int{},
		byMfr:   map[string]int{},
	}
}

// put stores d unless the index holds something at least as new. local
// says the write was made by this process rather than seen on the watch.
// d must not be modified afterwards.
func (x *index) put(d Device, local bool) (change, bool) {
	rev := d.Revision
	if local && rev <= x.watchRev {
		return change{}, false
	}
	if t, ok := x.tombs[d.EndpointID]; ok {
		if rev <= t {
			return change{}, false
		}
		delete(x.tombs, d.EndpointID)
	}
	old, had := x.byID[d.EndpointID]
	if had && old.d.Revision >= rev {
		return change{}, false
	}
	e := &entry{d: d, text: searchText(&d)}
	pos, _ := x.find(d.EndpointID)
	if had {
		x.count(&old.d, -1)
		x.list[pos] = e
	} else {
		x.list = slices.Insert(x.list, pos, e)
	}
	x.byID[d.EndpointID] = e
	x.count(&d, +1)
	var c change
	if had {
		c.old = old.d
	}
	c.new = d
	return c, true
}

// removeWatched applies a delete the watch reported at revision rev.
func (x *index) removeWatched(eid string, rev uint64) (change, bool) {
	if t, ok := x.tombs[eid]; ok && t < rev {
		delete(x.tombs, eid)
	}
	e, ok := x.byID[eid]
	if !ok || e.d.Revision >= rev {
		return change{}, false
	}
	return x.drop(e), true
}

// removeLocal applies a delete this process made of the record at
// revision prev. The delete's own revision is unknown (KV Delete does not
// return it), but it is the next write to the key after prev: the delete
// was conditional on prev being the latest.
func (x *index) removeLocal(eid string, prev uint64) (change, bool) {
	if prev > x.watchRev {
		x.tombs[eid] = max(x.tombs[eid], prev)
	}
	e, ok := x.byID[eid]
	if !ok || e.d.Revision > prev {
		return change{}, false
	}
	return x.drop(e), true
}

// sawRevision records that the watch delivered revision rev, and forgets
// the tombstones it made redundant.
func (x *index) sawRevision(rev uint64) {
	x.watchRev = max(x.watchRev, rev)
	for eid, t := range x.tombs { // tiny: deletes not yet seen on the watch
		if t <= x.watchRev {
			delete(x.tombs, eid)
		}
	}
}

// find returns where eid is, or would be, in list.
func (x *index) find(eid string) (int, bool) {
	return slices.BinarySearchFunc(x.list, eid, func(e *entry, eid string) int {
		return strings.Compare(e.d.EndpointID, eid)
	})
}

func (x *index) drop(e *entry) change {
	pos, _ := x.find(e.d.EndpointID)
	x.list = slices.Delete(x.list, pos, pos+1)
	delete(x.byID, e.d.EndpointID)
	x.count(&e.d, -1)
	return change{old: e.d, deleted: true}
}

// count adds delta to the dashboard counters for d.
func (x *index) count(d *Device, delta int) {
	switch d.Status {
	case StatusOnline:
		x.online += delta
	case StatusOffline:
		x.offline += delta
	}
	bump(x.byModel, d.Model, delta)
	bump(x.bySW, d.SoftwareVersion, delta)
	bump(x.byMfr, d.Manufacturer, delta)
}

func bump(m map[string]int, k string, delta int) {
	n := m[k] + delta
	if n <= 0 {
		delete(m, k) // so a model that is gone leaves the dashboard
		return
	}
	m[k] = n
}

// snapshot collects a bucket's contents during a load. Adding devices to
// an index one by one would move its sorted list each time; a snapshot
// sorts once, in build.
type snapshot struct {
	byID   map[string]*entry
	maxRev uint64 // the highest revision seen, deletes included
}

func newSnapshot(sizeHint int) *snapshot {
	return &snapshot{byID: make(map[string]*entry, sizeHint)}
}

// add records d, unless the snapshot holds a newer record of it.
func (s *snapshot) add(d Device) {
	if old, ok := s.byID[d.EndpointID]; ok && old.d.Revision >= d.Revision {
		return
	}
	s.byID[d.EndpointID] = &entry{d: d, text: searchText(&d)}
}

// build turns the snapshot into an index.
func (s *snapshot) build() *index {
	x := newIndex(0)
	x.byID = s.byID
	x.list = make([]*entry, 0, len(s.byID))
	for _, e := range s.byID {
		x.list = append(x.list, e)
		x.count(&e.d, +1)
	}
	slices.SortFunc(x.list, func(a, b *entry) int { return strings.Compare(a.d.EndpointID, b.d.EndpointID) })
	// Every write at or below maxRev is in the snapshot, or was
	// overwritten: a local write that old is old news.
	x.watchRev = s.maxRev
	return x
}

// diff lists how next differs from x, by revision, so that subscribers hear
// of changes that a reload picked up rather than the watch.
func (x *index) diff(next *index) []change {
	var cs []change
	for eid, e := range x.byID {
		if _, ok := next.byID[eid]; !ok {
			cs = append(cs, change{old: e.d, deleted: true})
		}
	}
	for eid, e := range next.byID {
		if old, ok := x.byID[eid]; !ok {
			cs = append(cs, change{new: e.d})
		} else if old.d.Revision != e.d.Revision {
			cs = append(cs, change{old: old.d, new: e.d})
		}
	}
	return cs
}

// searchText builds entry.text.
func searchText(d *Device) string {
	n := len(d.EndpointID) + len(d.SerialNumber) + len(d.Model) + len(d.Manufacturer) + len(d.SoftwareVersion) + 5
	for _, v := range d.Labels {
		n += len(v) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range [...]string{d.EndpointID, d.SerialNumber, d.Model, d.Manufacturer, d.SoftwareVersion} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, v := range d.Labels {
		b.WriteString(v)
		b.WriteByte(0)
	}
	return lower(b.String())
}

// lower is strings.ToLower without an allocation for text that is already
// lower-case ASCII, which most device data is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}
