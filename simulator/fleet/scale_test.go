package fleet

import (
	"sync"
	"testing"
	"time"
)

// TestRampUpUnderRate connects 1,000 devices at 200 connections a second
// and checks that no two-second window saw more than the rate allows (20 %
// slack for sampling and the window's edges). The pacer's slots are spaced
// exactly, but a device whose slot came while the machine was busy starts
// late, together with the next ones: over one second, a 200 ms stall under
// load alone makes 240. Over two seconds such bunching is lost in the
// slack, and a pacer letting through even half as many again is not.
func TestRampUpUnderRate(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 devices: not in -short")
	}
	const n, rate = 1000, 200
	e := startEnv(t, nil)
	e.controller(testCtrl)
	devs := e.provision(prefix, n)

	type sample struct {
		at       time.Time
		attempts uint64
	}
	var (
		mu      sync.Mutex
		samples []sample
	)
	f := e.startFleet(devs, func(c *Config) { c.Rate = rate; c.TickInterval = time.Second })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				// The time of the reading, not of the tick: on a loaded
				// machine a tick can wait long before it is received.
				a := f.Stats().ConnectAttempts
				now := time.Now()
				mu.Lock()
				samples = append(samples, sample{now, a})
				mu.Unlock()
			}
		}
	})
	start := time.Now()
	waitConnected(t, f, n, 30*time.Second)
	took := time.Since(start)
	close(stop)
	wg.Wait()

	s := f.Stats()
	if s.ConnectFailures != 0 || s.ConnectAttempts != n {
		t.Errorf("stats: %+v", s)
	}
	if min := time.Duration(float64(n-1) / rate * float64(time.Second)); took < min*9/10 {
		t.Errorf("%d devices connected in %v; the rate allows no less than %v", n, took, min)
	}
	// The most attempts in any window of two seconds.
	const window = 2 * time.Second
	worst := uint64(0)
	for i, a := range samples {
		for j := i + 1; j < len(samples) && samples[j].at.Sub(a.at) <= window; j++ {
			worst = max(worst, samples[j].attempts-a.attempts)
		}
	}
	if limit := uint64(rate * window.Seconds() * 1.2); worst > limit {
		t.Errorf("%d connection attempts within %v, limit %d", worst, window, limit)
	}
	t.Logf("%d devices connected in %v, at most %d attempts in %v", n, took.Round(time.Millisecond), worst, window)
}
