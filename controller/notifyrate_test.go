package controller

import (
	"testing"
	"time"
)

func TestNotifyRate(t *testing.T) {
	var r notifyRate
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	// 3 at 03:04:00, 2 at 03:04:30, 1 at 03:05:10, 4 at 03:20:00.
	for range 3 {
		r.add(t0)
	}
	r.add(t0.Add(30 * time.Second))
	r.add(t0.Add(30 * time.Second))
	r.add(t0.Add(70 * time.Second))

	last, by := r.rate(t0.Add(75 * time.Second))
	if last != 3 { // 03:04:30 ×2 and 03:05:10; 03:04:00 is more than 60 s ago
		t.Errorf("last minute at 03:05:15: %d, want 3", last)
	}
	if len(by) != NotifyMinutes || !by[len(by)-1].Minute.Equal(t0.Add(time.Minute)) || by[len(by)-1].Count != 1 || by[len(by)-2].Count != 5 {
		t.Errorf("by minute at 03:05:15: %+v", by)
	}
	for i := 1; i < len(by); i++ {
		if by[i].Minute.Sub(by[i-1].Minute) != time.Minute {
			t.Fatalf("minutes not consecutive, oldest first: %+v", by)
		}
	}

	// Sixteen minutes on, the old counts are gone, even though their
	// slots come round again.
	r.add(t0.Add(16 * time.Minute))
	last, by = r.rate(t0.Add(16 * time.Minute))
	var total uint64
	for _, m := range by {
		total += m.Count
	}
	if last != 1 || total != 1 || by[len(by)-1].Count != 1 {
		t.Errorf("at 03:20: last minute %d, by minute %+v; want only the new one", last, by)
	}
}

func BenchmarkNotifyRate(b *testing.B) {
	var r notifyRate
	now := time.Now()
	for b.Loop() {
		r.add(now)
	}
}
