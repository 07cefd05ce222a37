package events

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQueryFilters publishes a fixed mix of devices and types and checks
// which IDs each filter selects, in both orders.
func TestQueryFilters(t *testing.T) {
	l, _ := newLog(t)
	// IDs 1..12: (dev1, value_change) (dev2, event) (dev1, boot) (dev3, value_change) repeated.
	pattern := []struct{ eid, typ string }{
		{dev1, TypeValueChange}, {dev2, TypeEvent}, {dev1, TypeBoot}, {dev3, TypeValueChange},
	}
	for i := range 12 {
		p := pattern[i%len(pattern)]
		publish(t, l, p.eid, p.typ, i)
	}

	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"all", Filter{}, seqRange(1, 12)},
		{"device", Filter{EndpointID: dev1}, []uint64{1, 3, 5, 7, 9, 11}},
		{"escaped device", Filter{EndpointID: dev3}, []uint64{4, 8, 12}},
		{"unknown device", Filter{EndpointID: "os::nobody"}, nil},
		{"type", Filter{Types: []string{TypeValueChange}}, []uint64{1, 4, 5, 8, 9, 12}},
		{"types", Filter{Types: []string{TypeBoot, TypeEvent}}, []uint64{2, 3, 6, 7, 10, 11}},
		{"repeated type", Filter{Types: []string{TypeBoot, TypeBoot}}, []uint64{3, 7, 11}},
		{"device and type", Filter{EndpointID: dev1, Types: []string{TypeBoot}}, []uint64{3, 7, 11}},
		{"device and types", Filter{EndpointID: dev1, Types: []string{TypeBoot, TypeValueChange}}, []uint64{1, 3, 5, 7, 9, 11}},
		{"limit", Filter{Limit: 3}, []uint64{1, 2, 3}},
		{"after", Filter{AfterID: 9}, []uint64{10, 11, 12}},
		{"before", Filter{BeforeID: 3}, []uint64{1, 2}},
		{"after and before", Filter{AfterID: 4, BeforeID: 8}, []uint64{5, 6, 7}},
		{"empty range", Filter{AfterID: 4, BeforeID: 5}, nil},
		{"after the end", Filter{AfterID: 100}, nil},
		{"desc", Filter{Desc: true}, seqRange(12, 1)},
		{"desc device limit", Filter{EndpointID: dev1, Desc: true, Limit: 2}, []uint64{11, 9}},
		{"desc before", Filter{EndpointID: dev1, Desc: true, BeforeID: 9}, []uint64{7, 5, 3, 1}},
		{"desc after", Filter{Desc: true, AfterID: 10}, []uint64{12, 11}},
		{"desc types before after", Filter{Types: []string{TypeValueChange}, Desc: true, AfterID: 1, BeforeID: 12}, []uint64{9, 8, 5, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := query(t, l, tt.f)
			if !slices.Equal(ids(got), tt.want) {
				t.Fatalf("IDs %v, want %v", ids(got), tt.want)
			}
			for _, e := range got {
				if tt.f.EndpointID != "" && e.EndpointID != tt.f.EndpointID {
					t.Errorf("event %d is for %q", e.ID, e.EndpointID)
				}
				if len(tt.f.Types) > 0 && !slices.Contains(tt.f.Types, e.Type) {
					t.Errorf("event %d has type %q", e.ID, e.Type)
				}
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	l, _ := newLog(t)
	tests := []struct {
		name string
		f    Filter
	}{
		{"negative limit", Filter{Limit: -1}},
		{"bad type", Filter{Types: []string{"a.b"}}},
		{"wildcard type", Filter{Types: []string{">"}}},
		{"too many types", Filter{Types: strings.Split(strings.Repeat("t,", MaxFilterTypes)+"t", ",")}},
		{"long endpoint", Filter{EndpointID: strings.Repeat("x", MaxEndpointIDLen+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Query(testCtx(t), tt.f); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Query = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestQueryLimits checks the default and the cap on page size.
func TestQueryLimits(t *testing.T) {
	l, js := newLog(t)
	publishMany(t, l, js, dev1, TypeValueChange, MaxLimit+50)
	tests := []struct {
		limit, want int
		desc        bool
	}{
		{0, DefaultLimit, false},
		{0, DefaultLimit, true},
		{7, 7, false},
		{MaxLimit + 1, MaxLimit, false},
		{MaxLimit + 1, MaxLimit, true},
	}
	for _, tt := range tests {
		got := query(t, l, Filter{Limit: tt.limit, Desc: tt.desc})
		if len(got) != tt.want {
			t.Errorf("Limit %d desc %v: %d events, want %d", tt.limit, tt.desc, len(got), tt.want)
			continue
		}
		first := uint64(1)
		if tt.desc {
			first = MaxLimit + 50
		}
		if got[0].ID != first {
			t.Errorf("Limit %d desc %v: first ID %d, want %d", tt.limit, tt.desc, got[0].ID, first)
		}
	}
}

// TestQueryDescPaging pages backwards, then forwards, through one device's
// events interleaved with another's, and checks that every event is seen
// once, in order.
func TestQueryDescPaging(t *testing.T) {
	l, js := newLog(t)
	var want []uint64
	for round := range 5 {
		publishMany(t, l, js, dev2, TypeValueChange, 97)
		for i := range 53 {
			want = append(want, publish(t, l, dev1, TypeEvent, round*53+i).ID)
		}
	}
	var back []uint64
	var before uint64
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("too many pages")
		}
		got := query(t, l, Filter{EndpointID: dev1, Desc: true, BeforeID: before, Limit: 40})
		if len(got) == 0 {
			break
		}
		back = append(back, ids(got)...)
		before = got[len(got)-1].ID
	}
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	if !slices.Equal(back, reversed) {
		t.Fatalf("paging back: %d IDs %v\nwant %d IDs %v", len(back), back, len(reversed), reversed)
	}

	var fwd []uint64
	var after uint64
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatal("too many pages")
		}
		got := query(t, l, Filter{EndpointID: dev1, AfterID: after, Limit: 40})
		if len(got) == 0 {
			break
		}
		fwd = append(fwd, ids(got)...)
		after = got[len(got)-1].ID
	}
	if !slices.Equal(fwd, want) {
		t.Fatalf("paging forward: %v\nwant %v", fwd, want)
	}
}

// TestQueryDescSparse finds a quiet device's last events far behind many
// events of another, which takes several widening windows.
func TestQueryDescSparse(t *testing.T) {
	l, js := newLog(t)
	publishMany(t, l, js, dev2, TypeValueChange, 100)
	a := publish(t, l, dev1, TypeBoot, 0)
	publishMany(t, l, js, dev2, TypeValueChange, 300)
	b := publish(t, l, dev1, TypeBoot, 1)
	publishMany(t, l, js, dev2, TypeValueChange, 5000)

	got := query(t, l, Filter{EndpointID: dev1, Desc: true})
	if !slices.Equal(ids(got), []uint64{b.ID, a.ID}) {
		t.Fatalf("IDs %v, want %v", ids(got), []uint64{b.ID, a.ID})
	}
	got = query(t, l, Filter{EndpointID: dev1, Desc: true, Limit: 1})
	if !slices.Equal(ids(got), []uint64{b.ID}) {
		t.Fatalf("limit 1: IDs %v, want %d", ids(got), b.ID)
	}
	// A dense device: the last 10 of 5400 come from a halved window.
	got = query(t, l, Filter{EndpointID: dev2, Desc: true, Limit: 10})
	if !slices.Equal(ids(got), seqRange(5402, 5393)) {
		t.Fatalf("dense: IDs %v", ids(got))
	}
}

// TestQuerySince selects by the time the stream stored events.
func TestQuerySince(t *testing.T) {
	l, _ := newLog(t)
	for i := range 3 {
		publish(t, l, dev1, TypeValueChange, i)
	}
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	for i := range 3 {
		publish(t, l, dev1, TypeValueChange, 3+i)
	}

	tests := []struct {
		name string
		f    Filter
		want []uint64
	}{
		{"since", Filter{Since: since}, []uint64{4, 5, 6}},
		{"since desc", Filter{Since: since, Desc: true}, []uint64{6, 5, 4}},
		{"since and earlier after", Filter{Since: since, AfterID: 1}, []uint64{4, 5, 6}},
		{"since and later after", Filter{Since: since, AfterID: 5}, []uint64{6}},
		{"since device", Filter{Since: since, EndpointID: dev1, Limit: 2}, []uint64{4, 5}},
		{"future", Filter{Since: time.Now().Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := query(t, l, tt.f); !slices.Equal(ids(got), tt.want) {
				t.Fatalf("IDs %v, want %v", ids(got), tt.want)
			}
		})
	}
}

// TestQueryCleansUp checks that queries leave no consumers behind.
func TestQueryCleansUp(t *testing.T) {
	l, js := newLog(t)
	publishMany(t, l, js, dev1, TypeValueChange, 600)
	query(t, l, Filter{EndpointID: dev1, Desc: true, Limit: 5})
	query(t, l, Filter{Since: time.Now().Add(-time.Hour), AfterID: 3})
	s, err := js.Stream(testCtx(t), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d consumers left behind", info.State.Consumers)
	}
}
