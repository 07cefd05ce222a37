package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pacer hands out slots at a steady rate: slot n is one interval after slot
// n-1, and a slot that passed unused is not saved up. So over any window of
// length W at most W·rate+1 slots start, whether it is the first ramp-up or
// a reconnect storm after a broker restart.
type pacer struct {
	interval time.Duration

	mu   sync.Mutex // guards next
	next time.Time
}

func newPacer(rate float64) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / rate)}
}

// wait reserves the next slot and sleeps until it comes, or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.interval)
	p.mu.Unlock()
	d := slot.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff returns the wait before the next attempt after failures
// consecutive failures (at least one): a random time in
// [0, min(max, base·2^(failures-1))], "full jitter", so that devices that
// lost the same broker at the same moment do not come back together.
func backoff(failures int, base, limit time.Duration) time.Duration {
	d := limit
	if shift := failures - 1; shift < 32 {
		if b := base << max(shift, 0); b > 0 && b < limit {
			d = b
		}
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// ParseRate reads a rate such as "200", "200/s" or "600/m" and returns it
// per second.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := time.Second
	switch strings.TrimSpace(unit) {
	case "", "s":
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, fmt.Errorf("rate %q: unit must be /s, /m or /h", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 || n > 1e6 {
		return 0, fmt.Errorf("rate %q: want a positive number, such as 200/s", s)
	}
	return n / per.Seconds(), nil
}
