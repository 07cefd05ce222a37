package mqttmtp

import (
	"strconv"
	"testing"

	"cuttle/usp"
)

func TestPendingTable(t *testing.T) {
	tab := newPendingTable()
	p := &pending{eid: "dev-a", done: make(chan outcome, 1)}
	if !tab.add("1", p) || tab.add("1", p) {
		t.Fatal("add: want the first to succeed and a duplicate to fail")
	}
	if got, wrong := tab.take("1", "dev-b"); got != nil || !wrong {
		t.Fatalf("take by another device = %v, %v; want nil, wrongSender", got, wrong)
	}
	if got, _ := tab.take("1", "dev-a"); got != p {
		t.Fatal("take by the right device did not return the request")
	}
	if tab.len() != 0 || tab.remove("1") != nil {
		t.Fatal("entry still present after take")
	}
	for i := range 3 {
		tab.add(strconv.Itoa(i), &pending{done: make(chan outcome, 1)})
	}
	if n := tab.failAll(ErrClosed); n != 3 || tab.len() != 0 {
		t.Fatalf("failAll = %d, len %d; want 3, 0", n, tab.len())
	}
}

// BenchmarkPendingTable measures an add and a take, as every request and
// its response do, from parallel goroutines over a standing population of
// in-flight requests.
func BenchmarkPendingTable(b *testing.B) {
	tab := newPendingTable()
	for i := range 1000 {
		tab.add("standing-"+strconv.Itoa(i), &pending{eid: "d"})
	}
	b.RunParallel(func(pb *testing.PB) {
		ids := usp.NewIDGen("") // one per goroutine: measure the table, not the generator
		p := &pending{eid: "d", done: make(chan outcome, 1)}
		for pb.Next() {
			id := ids.Next()
			tab.add(id, p)
			tab.take(id, "d")
		}
	})
}
