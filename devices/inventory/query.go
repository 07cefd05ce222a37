package inventory

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Query selects, orders and pages devices. Every filter must hold; a zero
// Query lists all devices by endpoint ID, 50 at a time.
type Query struct {
	// Status, Model, Manufacturer and SoftwareVersion match exactly; ""
	// matches anything.
	Status, Model, Manufacturer, SoftwareVersion string
	// Labels is a label selector, see ParseSelector.
	Labels string
	// Text matches a case-insensitive substring of the endpoint ID, serial
	// number, model, manufacturer, software version or any label value.
	Text string
	// Sort is one of the SortKeys, default "endpoint_id"; ties are broken
	// by endpoint ID. A "-" prefix reverses the order, ties included:
	// "-last_seen" lists the most recently seen device first, and devices
	// seen at the same time by descending endpoint ID.
	Sort string
	// Limit is the page size: default DefaultLimit, at most MaxLimit.
	Limit int
	// Cursor continues from a previous Page.Next; it must come from a
	// query with the same Sort. Paging is by position, not by count, so
	// devices added or removed meanwhile shift nothing: every device
	// present throughout is listed exactly once, unless its own sort key
	// changes between pages and moves it across the cursor.
	Cursor string
}

// Page is one page of a Query's result.
type Page struct {
	Devices []Device `json:"devices"`
	// Next is the cursor for the following page; empty on the last page.
	Next string `json:"next,omitempty"`
	// Total is the number of devices matching the filters, on all pages.
	Total int `json:"total"`
}

// SortKeys are the fields a Query can sort by.
var SortKeys = []string{"endpoint_id", "last_seen", "status", "model", "software_version", "status_since"}

// sortKey describes one SortKeys entry: the ascending order (by the field,
// then by endpoint ID), and how to carry a device's value in a cursor. The
// comparisons are written out per field because a query makes up to a
// million of them.
type sortKey struct {
	cmp    func(a, b *Device) int
	encode func(d *Device) string
	decode func(s string, d *Device) error
}

var sortKeys = map[string]sortKey{
	"endpoint_id": {
		cmp:    func(a, b *Device) int { return strings.Compare(a.EndpointID, b.EndpointID) },
		encode: func(*Device) string { return "" }, // the cursor carries the ID anyway
		decode: func(string, *Device) error { return nil },
	},
	"last_seen": timeKey(func(d *Device) *time.Time { return &d.LastSeen }, func(a, b *Device) int {
		return orByID(a.LastSeen.Compare(b.LastSeen), a, b)
	}),
	"status_since": timeKey(func(d *Device) *time.Time { return &d.StatusSince }, func(a, b *Device) int {
		return orByID(a.StatusSince.Compare(b.StatusSince), a, b)
	}),
	"status": stringKey(func(d *Device) *string { return &d.Status }, func(a, b *Device) int {
		return orByID(strings.Compare(a.Status, b.Status), a, b)
	}),
	"model": stringKey(func(d *Device) *string { return &d.Model }, func(a, b *Device) int {
		return orByID(strings.Compare(a.Model, b.Model), a, b)
	}),
	"software_version": stringKey(func(d *Device) *string { return &d.SoftwareVersion }, func(a, b *Device) int {
		return orByID(strings.Compare(a.SoftwareVersion, b.SoftwareVersion), a, b)
	}),
}

// orByID breaks a tie c by endpoint ID. Unlike cmp.Or, it compares the
// IDs only when needed.
func orByID(c int, a, b *Device) int {
	if c != 0 {
		return c
	}
	return strings.Compare(a.EndpointID, b.EndpointID)
}

func stringKey(field func(*Device) *string, order func(a, b *Device) int) sortKey {
	return sortKey{
		cmp:    order,
		encode: func(d *Device) string { return *field(d) },
		decode: func(s string, d *Device) error { *field(d) = s; return nil },
	}
}

func timeKey(field func(*Device) *time.Time, order func(a, b *Device) int) sortKey {
	return sortKey{
		cmp:    order,
		encode: func(d *Device) string { return field(d).Format(time.RFC3339Nano) },
		decode: func(s string, d *Device) (err error) {
			*field(d), err = time.Parse(time.RFC3339Nano, s)
			return err
		},
	}
}

// plan is a checked Query, ready to run against the index.
type plan struct {
	status, model, manufacturer, software string
	labels                                Selector
	text                                  string // lower case
	sort                                  string // as given, e.g. "-last_seen"
	key                                   sortKey
	cmp                                   func(a, b *Device) int
	desc                                  bool
	limit                                 int
	after                                 *Device // the cursor's position; nil on the first page
}

func compile(q Query) (*plan, error) {
	p := &plan{
		status: q.Status, model: q.Model, manufacturer: q.Manufacturer, software: q.SoftwareVersion,
		text: lower(strings.TrimSpace(q.Text)), sort: q.Sort, limit: q.Limit,
	}
	switch q.Status {
	case "", StatusOnline, StatusOffline:
	default:
		return nil, fieldErr("status", "%q is neither %q nor %q", q.Status, StatusOnline, StatusOffline)
	}
	var err error
	if p.labels, err = ParseSelector(q.Labels); err != nil {
		return nil, err
	}
	switch {
	case p.limit == 0:
		p.limit = DefaultLimit
	case p.limit < 0 || p.limit > MaxLimit:
		return nil, fieldErr("limit", "%d is not between 1 and %d", p.limit, MaxLimit)
	}
	if p.sort == "" {
		p.sort = "endpoint_id"
	}
	name, desc := strings.CutPrefix(p.sort, "-")
	key, ok := sortKeys[name]
	if !ok {
		return nil, fieldErr("sort", "%q is not one of %s, optionally prefixed by '-'", q.Sort, strings.Join(SortKeys, ", "))
	}
	p.key, p.cmp, p.desc = key, key.cmp, desc
	if desc {
		p.cmp = func(a, b *Device) int { return key.cmp(b, a) }
	}
	if q.Cursor != "" {
		if p.after, err = p.decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// match reports whether e passes the filters. The cheap exact comparisons
// go first.
func (p *plan) match(e *entry) bool {
	d := &e.d
	return (p.status == "" || d.Status == p.status) &&
		(p.model == "" || d.Model == p.model) &&
		(p.manufacturer == "" || d.Manufacturer == p.manufacturer) &&
		(p.software == "" || d.SoftwareVersion == p.software) &&
		(p.text == "" || strings.Contains(e.text, p.text)) &&
		p.labels.Matches(d.Labels)
}

// cursor is what Page.Next encodes: the sort and the position of the last
// device returned, so that the next page starts strictly after it however
// devices were added, removed or changed meanwhile.
type cursor struct {
	Sort string `json:"s"`
	Key  string `json:"k,omitempty"`
	ID   string `json:"i"`
}

func (p *plan) encodeCursor(d *Device) string {
	b, _ := json.Marshal(cursor{Sort: p.sort, Key: p.key.encode(d), ID: d.EndpointID}) // strings always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *plan) decodeCursor(s string) (*Device, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fieldErr("cursor", "not a cursor from this API")
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
		return nil, fieldErr("cursor", "not a cursor from this API")
	}
	if c.Sort != p.sort {
		return nil, fieldErr("cursor", "cursor is for sort %q, not %q", c.Sort, p.sort)
	}
	d := &Device{EndpointID: c.ID}
	if err := p.key.decode(c.Key, d); err != nil {
		return nil, fieldErr("cursor", "not a cursor from this API")
	}
	return d, nil
}

// Query returns one page of the devices q selects, from memory. It scans
// every device once, keeping the best Limit in a bounded heap, so its cost
// grows with the number of devices and barely with the page's depth; see
// BenchmarkQuery100k. The scan runs in endpoint ID order, or its reverse
// for a descending sort, so that ties, and keys that grow with the
// endpoint ID, arrive in the order wanted and are rejected by one
// comparison with the heap's worst.
func (i *Inventory) Query(q Query) (Page, error) {
	p, err := compile(q)
	if err != nil {
		return Page{}, err
	}
	top := topK{cmp: p.cmp, k: p.limit, items: make([]*entry, 0, min(p.limit, 64))}
	total, after := 0, 0

	i.mu.RLock()
	defer i.mu.RUnlock()
	list := i.idx.list
	for n := range list {
		e := list[n]
		if p.desc {
			e = list[len(list)-1-n]
		}
		if !p.match(e) {
			continue
		}
		total++
		if p.after != nil && p.cmp(&e.d, p.after) <= 0 {
			continue
		}
		after++
		top.offer(e)
	}
	slices.SortFunc(top.items, func(a, b *entry) int { return p.cmp(&a.d, &b.d) })
	page := Page{Devices: make([]Device, len(top.items)), Total: total}
	for n, e := range top.items {
		page.Devices[n] = e.d.Clone()
	}
	if after > len(top.items) {
		page.Next = p.encodeCursor(&top.items[len(top.items)-1].d)
	}
	return page, nil
}

// topK keeps the k smallest entries offered, in a max-heap: the worst one
// kept is at items[0], so most entries cost one comparison once it is
// full.
type topK struct {
	items []*entry
	k     int
	cmp   func(a, b *Device) int
}

func (h *topK) offer(e *entry) {
	if len(h.items) < h.k {
		h.items = append(h.items, e)
		h.up(len(h.items) - 1)
		return
	}
	if h.cmp(&e.d, &h.items[0].d) >= 0 {
		return
	}
	h.items[0] = e
	h.down(0)
}

func (h *topK) less(i, j int) bool { return h.cmp(&h.items[i].d, &h.items[j].d) > 0 }

func (h *topK) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			return
		}
		h.items[i], h.items[j] = h.items[j], h.items[i]
		j = i
	}
}

func (h *topK) down(i int) {
	n := len(h.items)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if j2 := j + 1; j2 < n && h.less(j2, j) {
			j = j2
		}
		if !h.less(j, i) {
			return
		}
		h.items[i], h.items[j] = h.items[j], h.items[i]
		i = j
	}
}

// Stats counts devices for a dashboard.
type Stats struct {
	Total             int            `json:"total"`
	Online            int            `json:"online"`
	Offline           int            `json:"offline"`
	ByModel           map[string]int `json:"by_model"`
	BySoftwareVersion map[string]int `json:"by_software_version"`
	ByManufacturer    map[string]int `json:"by_manufacturer"`
}

// Stats returns the current counts. They are kept up to date on every
// write, so Stats costs a copy of the maps, not a scan.
func (i *Inventory) Stats() Stats {
	i.mu.RLock()
	defer i.mu.RUnlock()
	x := i.idx
	return Stats{
		Total: len(x.list), Online: x.online, Offline: x.offline,
		ByModel:           maps.Clone(x.byModel), // never nil: newIndex makes them
		BySoftwareVersion: maps.Clone(x.bySW),
		ByManufacturer:    maps.Clone(x.byMfr),
	}
}
