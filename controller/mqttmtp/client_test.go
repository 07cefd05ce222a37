package mqttmtp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"cuttle/internal/testutil"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// checkGet fails unless r answers a Get of path sent to eid.
func checkGet(r *usp.GetResp, eid, path string) error {
	if len(r.Results) != 1 || len(r.Results[0].Resolved) != 1 {
		return fmt.Errorf("malformed answer %+v", r)
	}
	got := r.Results[0].Resolved[0].Params
	if r.Results[0].RequestedPath != path || got["Path"] != path || got["EndpointID"] != eid {
		return fmt.Errorf("answer for %s from %s, want %s from %s", got["Path"], got["EndpointID"], path, eid)
	}
	return nil
}

// TestConcurrentRequests sends 1,000 concurrent Gets to 100 devices that
// answer after random delays, and checks that every answer belongs to its
// request: the device's endpoint ID and the requested path are echoed.
func TestConcurrentRequests(t *testing.T) {
	e := startEnv(t, nil)
	devs := startFleet(e, "c", 100, fleetOpts{maxDelay: 20 * time.Millisecond})
	c := e.startClient(nil)

	const perDevice = 10
	errs := make(chan error, len(devs)*perDevice)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, d := range devs {
		for j := range perDevice {
			wg.Go(func() {
				<-start
				path := fmt.Sprintf("Device.Test.%d.%d.", i, j)
				r, err := c.Get(ctxTimeout(t, 20*time.Second), d.eid, usp.NewGet(0, path))
				if err == nil {
					err = checkGet(r, d.eid, path)
				}
				if err != nil {
					errs <- fmt.Errorf("%s %s: %w", d.eid, path, err)
				}
			})
		}
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		for _, d := range devs {
			if got, sent := d.requests.Load(), d.answers.Load(); got != perDevice || sent != perDevice {
				t.Errorf("%s received %d requests and answered %d, want %d", d.eid, got, sent, perDevice)
			}
		}
		t.Fatalf("%d of %d requests failed; unknown msg_ids %v; broker: %s", n, len(devs)*perDevice, counter(c.metrics.unknownID), e.brokerDrops())
	}
	t.Logf("%d requests to %d devices in %s", len(devs)*perDevice, len(devs), time.Since(began).Round(time.Millisecond))
	for _, d := range devs {
		if got := d.requests.Load(); got != perDevice {
			t.Errorf("%s received %d requests, want %d", d.eid, got, perDevice)
		}
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("Pending() = %d after all answers", p)
	}
	if got := counter(c.metrics.requests.WithLabelValues("GET", outcomeOK)); got != float64(len(devs)*perDevice) {
		t.Errorf("requests{GET,ok} = %v", got)
	}
	if got := counter(c.metrics.unknownID); got != 0 {
		t.Errorf("unknown msg_ids = %v", got)
	}
}

// TestUSPError checks that an Error response becomes a *usperr.Error.
func TestUSPError(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "e", 1, fleetOpts{})[0]
	c := e.startClient(nil)

	set := usp.NewSet(false, usp.SetObject{Path: "Device.ReadOnly.", Params: []usp.Param{{Name: "Serial", Value: "x"}}})
	resp, err := c.Set(ctxTimeout(t, 5*time.Second), d.eid, set)
	var ue *usperr.Error
	if !errors.As(err, &ue) || ue.Code != usperr.ParamReadOnly {
		t.Fatalf("Set = %v, %v; want a *usperr.Error with code 7013", resp, err)
	}
	if len(ue.Params) != 1 || ue.Params[0].Path != "Device.ReadOnly.Serial" || ue.Params[0].Code != usperr.ParamReadOnly {
		t.Errorf("param errors = %+v", ue.Params)
	}
	if !errors.Is(err, &usperr.Error{Code: usperr.ParamReadOnly}) {
		t.Error("errors.Is with the code does not match")
	}
	m, err := c.Do(ctxTimeout(t, 5*time.Second), d.eid, set)
	if _, ok := m.Body.(*usp.ErrorMsg); !ok || err == nil {
		t.Errorf("Do = %v, %v; want the Error message and its error", m, err)
	}
	if got := counter(c.metrics.requests.WithLabelValues("SET", outcomeUSPError)); got != 2 {
		t.Errorf("requests{SET,usp_error} = %v", got)
	}
	// A writable path still works.
	set.Objects[0].Path = "Device.Writable."
	if _, err := c.Set(ctxTimeout(t, 5*time.Second), d.eid, set); err != nil {
		t.Errorf("Set of a writable path: %v", err)
	}
}

// TestTimeoutsAndCancellations sends a storm of requests that are never
// answered, half ended by the client's timeout and half by canceled
// contexts, and checks the errors and that no pending entry is left.
func TestTimeoutsAndCancellations(t *testing.T) {
	e := startEnv(t, nil)
	devs := startFleet(e, "t", 5, fleetOpts{})
	// Cancellations come well before the timeout, so that a loaded machine
	// cannot turn one into the other.
	c := e.startClient(func(c *Config) { c.Timeout = 1500 * time.Millisecond })

	const n = 400
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := range n {
		wg.Go(func() {
			d := devs[i%len(devs)]
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%2 == 1 {
				time.AfterFunc(time.Duration(rand.N(200))*time.Millisecond, cancel)
			}
			_, err := c.Get(ctx, d.eid, usp.NewGet(0, fmt.Sprintf("Device.Silent.%d.", i)))
			kind := "other: " + fmt.Sprint(err)
			switch {
			case isErr(err, ErrTimeout, context.DeadlineExceeded):
				kind = "timeout"
			case errors.Is(err, context.Canceled):
				kind = "canceled"
			}
			mu.Lock()
			counts[kind]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts["timeout"] != n/2 || counts["canceled"] != n/2 {
		t.Errorf("outcomes = %v; want %d timeouts and %d cancellations", counts, n/2, n/2)
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("Pending() = %d after every request ended", p)
	}
	if got := counter(c.metrics.requests.WithLabelValues("GET", outcomeTimeout)); got != n/2 {
		t.Errorf("requests{GET,timeout} = %v", got)
	}
	if got := counter(c.metrics.requests.WithLabelValues("GET", outcomeCanceled)); got != n/2 {
		t.Errorf("requests{GET,canceled} = %v", got)
	}

	// A caller's deadline shorter than the client's timeout is a timeout too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, devs[0].eid, usp.NewGet(0, "Device.Silent.x.")); !isErr(err, ErrTimeout, context.DeadlineExceeded) {
		t.Errorf("Get with a short deadline: %v", err)
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("Pending() = %d", p)
	}
}

// TestSwappedAnswers sends two requests to one device, which answers them
// in the reverse order.
func TestSwappedAnswers(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "s", 1, fleetOpts{})[0]
	c := e.startClient(nil)

	paths := []string{"Device.Hold.A.", "Device.Hold.B."}
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			r, err := c.Get(ctxTimeout(t, 5*time.Second), d.eid, usp.NewGet(0, p))
			if err == nil {
				err = checkGet(r, d.eid, p)
			}
			errs[i] = err
		})
		// Make sure both are in flight in a known order.
		testutil.Eventually(t, 5*time.Second, "request reached the device", func() bool { return d.requests.Load() == int64(i+1) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", paths[i], err)
		}
	}
}

// TestLateAnswer checks that an answer arriving after its request timed
// out is counted as an unknown msg_id, handed to the Handler and
// otherwise ignored.
func TestLateAnswer(t *testing.T) {
	e := startEnv(t, nil)
	d := startFleet(e, "l", 1, fleetOpts{late: 600 * time.Millisecond})[0]
	handled := make(chan Incoming, 10)
	c := e.startClient(func(c *Config) {
		c.Timeout = 300 * time.Millisecond
		c.Handler = func(in Incoming) { handled <- in }
	})

	if _, err := c.Get(ctxTimeout(t, 5*time.Second), d.eid, usp.NewGet(0, "Device.Late.1.")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Get = %v, want ErrTimeout", err)
	}
	select {
	case in := <-handled:
		if r, ok := in.Msg.Body.(*usp.GetResp); !ok || r.Results[0].RequestedPath != "Device.Late.1." {
			t.Errorf("handler got %+v", in.Msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the late answer did not reach the handler")
	}
	if got := counter(c.metrics.unknownID); got != 1 {
		t.Errorf("unknown msg_ids = %v, want 1", got)
	}
	// The client carries on.
	r, err := c.Get(ctxTimeout(t, 5*time.Second), d.eid, usp.NewGet(0, "Device.Now."))
	if err == nil {
		err = checkGet(r, d.eid, "Device.Now.")
	}
	if err != nil {
		t.Error(err)
	}
	if p := c.Pending(); p != 0 {
		t.Errorf("Pending() = %d", p)
	}
}
