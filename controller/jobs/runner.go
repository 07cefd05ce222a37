package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"cuttle/controller/events"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/usp"
	"cuttle/usp/usperr"
)

// Why a runner stops before every device has a result.
var (
	errCanceled = errors.New("job canceled")
	errShutdown = errors.New("job manager stopping")
	errStore    = errors.New("results cannot be stored")
	errFollow   = errors.New("OperationComplete events cannot be followed")
)

// Bounds of the runner's own NATS writes.
const (
	// sinceMargin is how far before its first device's command a resumed
	// job reads completions back, for clock skew between replicas and
	// NATS.
	sinceMargin = time.Minute
	// resumeFloor is the least a resumed job waits for a completion, to
	// read back those that arrived while it was not followed.
	resumeFloor = 5 * time.Second

	writeTimeout  = 10 * time.Second
	writeAttempts = 3
	// cancelWriters is how many "canceled" results are written at once.
	cancelWriters = 32
)

// runner runs one job on this replica while it holds the job's lease.
type runner struct {
	m   *Manager
	id  string
	op  string // the job's operation, for metrics
	log *slog.Logger

	// stop ends the dispatch of devices, with the reason; stopOps ends the
	// requests in flight. A cancel or a lost lease does both at once; a
	// shutdown stops dispatch and leaves ShutdownGrace before stopOps.
	dispatch context.Context
	stop     context.CancelCauseFunc
	ops      context.Context
	stopOps  context.CancelFunc
	// alive ends when the runner must give the job up (shutdown, lost
	// lease), not when the job is canceled.
	alive   context.Context
	giveUp  context.CancelFunc
	graceMu sync.Mutex  // guards grace
	grace   *time.Timer // the pending stopOps of a shutdown

	leaseRev atomic.Uint64

	// comps follows the completions of an operate job's asynchronous
	// commands, for up to compTimeout each; nil for other jobs, or
	// without Config.Completions.
	comps       *events.Completions
	compTimeout time.Duration
	commandKey  string
	command     string
	// sent holds, for an operate job that waits for completions, the
	// devices a previous runner sent the Operate to and that have no
	// result: they are waited for, not sent to again. Set by load.
	sent map[string]sentMark

	// mu guards the fields below, which load sets before any other
	// goroutine uses them.
	mu sync.Mutex
	// job is the record as it will next be written: the runner owns
	// everything but CancelRequested, which Cancel sets.
	job   Job
	rev   uint64          // the record's revision as last read or written
	dirty bool            // job changed since it was last written
	done  map[string]bool // devices with a result
	// raced: some device's result was written by someone else, so the
	// counters must be recounted from the stored results.
	raced bool
}

func newRunner(m *Manager, id string, leaseRev uint64) *runner {
	r := &runner{m: m, id: id, log: m.log.With("job", id), done: map[string]bool{}}
	r.leaseRev.Store(leaseRev)
	base := context.Background()
	r.dispatch, r.stop = context.WithCancelCause(base)
	r.ops, r.stopOps = context.WithCancel(base)
	r.alive, r.giveUp = context.WithCancel(base)
	return r
}

// requestCancel ends the job as canceled, promptly.
func (r *runner) requestCancel() {
	r.stop(errCanceled)
	r.stopOps()
}

// shutdown stops the runner, giving requests in flight ShutdownGrace.
func (r *runner) shutdown() {
	r.stop(errShutdown)
	r.giveUp()
	r.graceMu.Lock()
	if r.grace == nil {
		r.grace = time.AfterFunc(r.m.cfg.ShutdownGrace, r.stopOps)
	}
	r.graceMu.Unlock()
}

// abort stops at once for a reason that leaves the job to the next
// runner (lost lease, storage failure).
func (r *runner) abort(cause error) {
	r.stop(cause)
	r.stopOps()
	r.giveUp()
}

// wctx is a context for one of the runner's own NATS calls: they must be
// made whatever the job's state.
func wctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), writeTimeout)
}

// writeRetrying runs a store write up to writeAttempts times, each with
// its own timeout and waiting a little longer before each retry, and
// returns the last attempt's outcome.
func writeRetrying(write func(ctx context.Context) (bool, error)) (created bool, err error) {
	for attempt := range writeAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
		}
		ctx, cancel := wctx()
		created, err = write(ctx)
		cancel()
		if err == nil {
			return created, nil
		}
	}
	return created, err
}

// run loads the job, works through its devices and ends it; it returns
// once nothing of it is left running here.
func (r *runner) run() {
	defer r.giveUp()
	defer r.stopOps()
	defer func() {
		r.graceMu.Lock()
		if r.grace != nil {
			r.grace.Stop()
		}
		r.graceMu.Unlock()
	}()
	// The lease is kept from the start: loading a big job's results takes
	// a while.
	var bg sync.WaitGroup
	bgStop := make(chan struct{})
	bg.Go(func() { r.keepLease(bgStop) })
	devices, body, ok := r.load()
	if ok {
		bg.Go(func() { r.flushLoop(bgStop) })
		if stopFollowing, err := r.followCompletions(); err != nil {
			r.log.Warn("cannot follow OperationComplete events; leaving the job for later", "err", err)
			r.abort(errFollow)
		} else {
			r.work(devices, body)
			stopFollowing()
		}
	}
	close(bgStop)
	bg.Wait()
	if !ok {
		r.release()
		return
	}
	r.finish(devices)
}

// followCompletions starts following the completions of an operate
// job's asynchronous commands, before any is sent; stop ends it.
func (r *runner) followCompletions() (stop func(), err error) {
	r.mu.Lock()
	spec := r.job.Spec
	r.mu.Unlock()
	if spec.Operation != OpOperate || r.m.cfg.Completions == nil {
		return func() {}, nil
	}
	req, err := decodeRequest(spec.Operation, spec.Request)
	if err != nil {
		return nil, err
	}
	op := req.(*OperateRequest)
	// A resumed job reads back from its first device left waiting, so as
	// to see the completions that arrived while no runner was following.
	var since time.Time
	for _, m := range r.sent {
		if since.IsZero() || m.Sent.Before(since) {
			since = m.Sent
		}
	}
	if !since.IsZero() {
		since = since.Add(-sinceMargin)
	}
	ctx, cancel := context.WithCancel(r.ops)
	comps, err := r.m.cfg.Completions.FollowCompletionsSince(ctx, "", op.CommandKey, since)
	if err != nil {
		cancel()
		return nil, err
	}
	r.comps, r.compTimeout, r.commandKey, r.command = comps, op.completionTimeout(), op.CommandKey, op.Command
	return func() {
		cancel()
		<-comps.Done()
	}, nil
}

// load reads the job, its devices and the results already stored, and
// marks it running. It returns ok false when the job cannot run here now;
// a job that can never run is marked failed.
func (r *runner) load() ([]string, usp.Body, bool) {
	// Loading stops with a shutdown or a lost lease, not with a cancel:
	// a canceled job must still be loaded to be ended.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopLoad := context.AfterFunc(r.alive, cancel)
	defer stopLoad()
	j, rev, err := r.m.store.getJob(ctx, r.id)
	if err != nil {
		r.log.Warn("cannot load job", "err", err)
		return nil, nil, false
	}
	if j.Final() {
		return nil, nil, false // ended meanwhile
	}
	r.job, r.rev, r.op = j.clone(), rev, j.Spec.Operation
	body, err := j.Spec.body()
	if err != nil {
		r.fail(fmt.Sprintf("the stored spec is invalid: %v", err))
		return nil, nil, false
	}
	devices, err := r.m.store.devices(ctx, j)
	if err != nil {
		r.log.Warn("cannot load job devices", "err", err)
		return nil, nil, false
	}
	// Count what is already stored: exact, whatever the record says.
	r.job.Done, r.job.Succeeded, r.job.Failed, r.job.NotReached, r.job.Counts = 0, 0, 0, 0, map[string]int{}
	err = r.m.store.scanResults(ctx, r.id, 0, func(_ uint64, res Result) bool {
		if !r.done[res.EndpointID] {
			r.done[res.EndpointID] = true
			r.job.count(res.Status)
		}
		return true
	})
	if err != nil {
		r.log.Warn("cannot load job results", "err", err)
		return nil, nil, false
	}
	if j.Spec.Operation == OpOperate && r.m.cfg.Completions != nil {
		if r.sent, err = r.m.store.sentMarks(ctx, r.id, r.done); err != nil {
			r.log.Warn("cannot load the devices the job sent its command to", "err", err)
			return nil, nil, false
		}
	}
	resumed := r.job.State == StateRunning
	if r.job.State == StatePending {
		r.job.State, r.job.Started = StateRunning, r.m.now().UTC()
	}
	r.job.Runner = r.m.cfg.ReplicaID
	r.dirty = true
	if err := r.write(); err != nil {
		r.log.Warn("cannot mark job running", "err", err)
		return nil, nil, false
	}
	r.log.Info("job started", "operation", j.Spec.Operation, "devices", j.Total, "already_done", r.job.Done, "resumed", resumed, "awaiting", len(r.sent))
	if r.job.CancelRequested {
		r.requestCancel()
	}
	return devices, body, true
}

// work sends the request to every device without a result, Concurrency
// at a time, until all have one or the runner is stopped.
func (r *runner) work(devices []string, body usp.Body) {
	r.mu.Lock()
	todo := make([]string, 0, len(devices)-len(r.done))
	for _, eid := range devices {
		if !r.done[eid] {
			todo = append(todo, eid)
		}
	}
	spec := r.job.Spec
	r.mu.Unlock()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(spec.Concurrency, len(todo)) {
		wg.Go(func() {
			for r.dispatch.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				if mark, ok := r.sent[todo[i]]; ok {
					// Sent before a restart: wait for it, without a
					// request slot, since nothing is sent.
					if res, keep := r.resume(mark); keep {
						r.record(res)
					}
					continue
				}
				select {
				case r.m.slots <- struct{}{}:
				case <-r.dispatch.Done():
					return
				}
				res, async, keep := r.one(todo[i], body, spec)
				<-r.m.slots // waiting for completions takes no request slot
				if keep && async != nil {
					res, keep = r.awaitCompletions(res, *async, r.compTimeout)
				}
				if keep {
					r.record(res)
				}
			}
		})
	}
	wg.Wait()
}

// one sends the request to one device and returns its result, and false
// when the result must not be recorded because the runner stopped while
// the request was out (the next runner redoes it). An Operate answer with
// asynchronous commands to wait for comes back as async, the result to be
// completed by awaitCompletions.
func (r *runner) one(eid string, body usp.Body, spec Spec) (Result, *operateResponse, bool) {
	res, msg, keep := r.send(eid, body, spec)
	if resp, ok := msg.(*usp.OperateResp); ok && keep && res.Status == StatusOK && r.comps != nil && hasAsync(resp) {
		out := operateJSON(r.commandKey, resp)
		// A runner that resumes the job waits for these commands.
		ctx, cancel := wctx()
		err := r.m.store.updateSent(ctx, r.id, sentMark{EndpointID: eid, Sent: res.Started, Response: &out})
		cancel()
		if err != nil {
			r.log.Warn("cannot record the device's answer; a resumed job would wait for the requested command", "device", eid, "err", err)
		}
		return res, &out, true
	}
	return res, nil, keep
}

// marksSent reports whether the runner records each device it sends the
// request to before sending it: for operate jobs that wait for
// completions, so that a resumed job never runs a command twice.
func (r *runner) marksSent(spec Spec) bool {
	return spec.Operation == OpOperate && r.comps != nil
}

// markSent records that the request is being sent to eid; false means it
// must not be sent: the runner is stopping (storage failure), or another
// runner sent it already (then mark is that runner's, to wait for).
func (r *runner) markSent(eid string, at time.Time) (mark *sentMark, send bool) {
	m := sentMark{EndpointID: eid, Sent: at}
	created, err := writeRetrying(func(ctx context.Context) (bool, error) { return r.m.store.markSent(ctx, r.id, m) })
	if err != nil {
		r.log.Error("cannot record the command sent; stopping the job here", "device", eid, "err", err)
		r.abort(errStore)
		return nil, false
	}
	if created {
		return nil, true
	}
	ctx, cancel := wctx()
	defer cancel()
	marks, err := r.m.store.sentMarks(ctx, r.id, nil)
	if other, ok := marks[eid]; ok && err == nil {
		return &other, false
	}
	// Marked but unreadable: the next runner waits for it.
	r.log.Warn("cannot read the mark of a command another runner sent", "device", eid, "err", err)
	r.abort(errStore)
	return nil, false
}

// resume completes the result of a device a previous runner sent the
// Operate to: it waits for the completion of the commands the device
// said it started (or, when its answer was not recorded, of the command
// requested), for what is left of the completion timeout since the
// command was sent, but at least resumeFloor, so that completions that
// arrived while no runner followed are read back from the event log.
func (r *runner) resume(mark sentMark) (Result, bool) {
	res := Result{EndpointID: mark.EndpointID, Started: mark.Sent, Status: StatusOK}
	out := operateResponse{CommandKey: r.commandKey, Results: []operateResult{{Command: r.command, RequestPath: r.command, Status: opStarted}}}
	if mark.Response != nil {
		out = *mark.Response
	}
	left := max(r.compTimeout-r.m.now().Sub(mark.Sent), resumeFloor)
	return r.awaitCompletions(res, out, left)
}

func hasAsync(resp *usp.OperateResp) bool {
	for _, res := range resp.Results {
		if res.Err == nil && res.Async() {
			return true
		}
	}
	return false
}

// send sends the request to one device and returns its result and the
// body of its answer, if any.
func (r *runner) send(eid string, body usp.Body, spec Spec) (Result, usp.Body, bool) {
	res := Result{EndpointID: eid, Started: r.m.now().UTC()}
	if spec.OnlineOnly {
		d, ok := r.m.cfg.Inventory.Get(eid)
		if !ok || d.Status != inventory.StatusOnline {
			res.Status, res.Finished = StatusSkipped, res.Started
			res.Error = &ErrorInfo{Message: "not reached: " + offlineReason(d, ok)}
			return res, nil, true
		}
	}
	if r.marksSent(spec) {
		mark, send := r.markSent(eid, res.Started)
		if mark != nil {
			res, keep := r.resume(*mark)
			return res, nil, keep
		}
		if !send {
			return res, nil, false
		}
	}
	ctx, cancel := context.WithTimeout(r.ops, time.Duration(spec.Timeout))
	msg, err := r.m.cfg.USP.Do(ctx, eid, body)
	cancel()
	res.Finished = r.m.now().UTC()
	if err == nil {
		r.answered(&res, body, msg.Body)
		return res, msg.Body, true
	}
	if r.ops.Err() != nil || errors.Is(err, mqttmtp.ErrClosed) {
		if context.Cause(r.dispatch) == errCanceled {
			res.Status, res.Error = StatusCanceled, &ErrorInfo{Message: "not reached: the job was canceled"}
			return res, nil, true
		}
		r.abort(errShutdown) // the controller is going away, or this runner is
		return res, nil, false
	}
	var uerr *usperr.Error
	switch {
	case errors.As(err, &uerr):
		res.Status, res.Error = StatusUSPError, uspErrorInfo(uerr)
	case errors.Is(err, mqttmtp.ErrNotConnected):
		res.Status, res.Error = StatusUnreachable, &ErrorInfo{Message: "not reached: the controller has no broker connection"}
	case errors.Is(err, mqttmtp.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		d, ok := r.m.cfg.Inventory.Get(eid)
		if ok && d.Status == inventory.StatusOnline {
			res.Status, res.Error = StatusTimeout, &ErrorInfo{Message: fmt.Sprintf("no answer within %s", time.Duration(spec.Timeout))}
		} else {
			res.Status, res.Error = StatusUnreachable, &ErrorInfo{Message: "not reached: " + offlineReason(d, ok)}
		}
	case errors.Is(err, mqttmtp.ErrUnexpectedResponse):
		res.Status, res.Error = StatusBadResponse, &ErrorInfo{Message: err.Error()}
	default:
		res.Status, res.Error = StatusError, &ErrorInfo{Message: err.Error()}
	}
	return res, nil, true
}

func offlineReason(d inventory.Device, known bool) string {
	if !known {
		return "the device is not in the inventory"
	}
	return "the device is offline"
}

// answered fills in the result of a device that answered.
func (r *runner) answered(res *Result, req, body usp.Body) {
	b, failure, err := responseJSON(req, body)
	if err != nil {
		res.Status, res.Error = StatusBadResponse, &ErrorInfo{Message: err.Error()}
		return
	}
	res.Status = StatusOK
	if failure != nil {
		res.Status, res.Error = StatusUSPError, uspErrorInfo(failure)
	}
	if len(b) > r.m.cfg.MaxResultBytes {
		res.Truncated = true
		return
	}
	res.Response = b
}

func uspErrorInfo(e *usperr.Error) *ErrorInfo {
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Meaning()
	}
	info := &ErrorInfo{Code: uint32(e.Code), Name: e.Code.Name(), Message: msg, Path: e.Path}
	if len(e.Params) > 0 {
		info.ParamErrors = paramErrs(e.Params)
	}
	return info
}

// record stores a device's result and counts it; a storage failure stops
// the runner, leaving the device to the next one.
func (r *runner) record(res Result) {
	created, err := writeRetrying(func(ctx context.Context) (bool, error) { return r.m.store.putResult(ctx, r.id, res) })
	if err != nil {
		r.log.Error("cannot store result; stopping the job here", "device", res.EndpointID, "err", err)
		r.abort(errStore)
		return
	}
	r.m.metrics.results.WithLabelValues(r.op, res.Status).Inc()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done[res.EndpointID] = true
	if !created {
		r.raced = true
		return
	}
	r.job.count(res.Status)
	r.dirty = true
}

// write stores the record if it changed, merging a cancel request that
// arrived meanwhile.
func (r *runner) write() error {
	for range writeAttempts {
		r.mu.Lock()
		if !r.dirty {
			r.mu.Unlock()
			return nil
		}
		j, rev := r.job.clone(), r.rev
		r.dirty = false
		r.mu.Unlock()

		ctx, cancel := wctx()
		newRev, err := r.m.store.updateJob(ctx, j, rev)
		if err == nil {
			cancel()
			r.mu.Lock()
			r.rev = newRev
			r.mu.Unlock()
			return nil
		}
		r.mu.Lock()
		r.dirty = true
		r.mu.Unlock()
		if !conflict(err) {
			cancel()
			return err
		}
		cur, curRev, err := r.m.store.getJob(ctx, r.id)
		cancel()
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.rev = curRev
		if cur.CancelRequested && !r.job.CancelRequested {
			r.job.CancelRequested = true
			r.requestCancel()
		}
		r.mu.Unlock()
	}
	return fmt.Errorf("job %s: the record kept changing", r.id)
}

// flushLoop writes progress every FlushInterval until stop is closed.
func (r *runner) flushLoop(stop <-chan struct{}) {
	t := time.NewTicker(r.m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := r.write(); err != nil {
				r.log.Warn("cannot write job progress", "err", err)
			}
		}
	}
}

// keepLease refreshes the lease until stop is closed, and stops the job
// here when it is lost, or cannot be refreshed for a whole TTL (another
// replica may then take it).
func (r *runner) keepLease(stop <-chan struct{}) {
	t := time.NewTicker(r.m.cfg.LeaseTTL / 3)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.m.cfg.LeaseTTL/3)
		rev, err := r.m.leases.refresh(ctx, r.id, r.leaseRev.Load())
		cancel()
		switch {
		case err == nil:
			r.leaseRev.Store(rev)
			last = time.Now()
		case errors.Is(err, errLeaseLost) || time.Since(last) >= r.m.cfg.LeaseTTL:
			r.log.Warn("job lease lost; stopping the job here", "err", err)
			r.leaseRev.Store(0)
			r.abort(errLeaseLost)
			return
		default:
			r.log.Warn("cannot refresh job lease", "err", err)
		}
	}
}

// finish ends the job after work: with its final state when every device
// has a result or it was canceled, or with its progress written for the
// next runner when this one was stopped.
func (r *runner) finish(devices []string) {
	cause := context.Cause(r.dispatch)
	switch {
	case cause == nil || cause == errCanceled:
	case errors.Is(cause, errLeaseLost):
		return // the record and the lease are someone else's now
	default: // shutdown or storage failure: leave it running for the next runner
		r.mu.Lock()
		r.job.Runner, r.dirty = "", true
		r.mu.Unlock()
		if err := r.write(); err != nil {
			r.log.Warn("cannot write job progress", "err", err)
		}
		r.log.Info("job left for another runner", "reason", cause)
		r.release()
		return
	}
	if cause == errCanceled {
		if err := r.cancelRest(devices); err != nil {
			r.log.Warn("cannot record the canceled devices; the next runner will", "err", err)
			r.release()
			return
		}
	}
	r.mu.Lock()
	raced := r.raced
	r.mu.Unlock()
	if raced {
		r.recount()
	}
	r.mu.Lock()
	j := &r.job
	switch {
	case cause == errCanceled:
		j.State = StateCanceled
	case j.Succeeded == 0:
		j.State = StateFailed
	default:
		j.State = StateCompleted
	}
	j.Finished, j.Runner, r.dirty = r.m.now().UTC(), "", true
	state, took := j.State, j.Finished.Sub(j.Started)
	r.mu.Unlock()
	if err := r.write(); err != nil {
		r.log.Error("cannot write the job's end; the next runner will", "err", err)
		r.release()
		return
	}
	r.m.metrics.duration.WithLabelValues(state).Observe(took.Seconds())
	r.log.Info("job ended", "state", state, "took", took.Round(time.Millisecond),
		"succeeded", r.job.Succeeded, "failed", r.job.Failed, "not_reached", r.job.NotReached)
	r.release()
}

// cancelRest records every device without a result as canceled.
func (r *runner) cancelRest(devices []string) error {
	now := r.m.now().UTC()
	var g errgroup.Group
	g.SetLimit(cancelWriters)
	for _, eid := range devices {
		r.mu.Lock()
		done := r.done[eid]
		r.mu.Unlock()
		if done {
			continue
		}
		g.Go(func() error {
			ctx, cancel := wctx()
			defer cancel()
			res := Result{EndpointID: eid, Status: StatusCanceled, Finished: now,
				Error: &ErrorInfo{Message: "not reached: the job was canceled"}}
			created, err := r.m.store.putResult(ctx, r.id, res)
			if err != nil {
				return err
			}
			r.m.metrics.results.WithLabelValues(r.op, StatusCanceled).Inc()
			r.mu.Lock()
			defer r.mu.Unlock()
			r.done[eid] = true
			if created {
				r.job.count(StatusCanceled)
			} else {
				r.raced = true
			}
			r.dirty = true
			return nil
		})
	}
	return g.Wait()
}

// recount sets the counters from the stored results.
func (r *runner) recount() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var j Job
	err := r.m.store.scanResults(ctx, r.id, 0, func(_ uint64, res Result) bool {
		j.count(res.Status)
		return true
	})
	if err != nil {
		r.log.Warn("cannot recount results", "err", err)
		return
	}
	r.mu.Lock()
	r.job.Done, r.job.Succeeded, r.job.Failed, r.job.NotReached, r.job.Counts = j.Done, j.Succeeded, j.Failed, j.NotReached, j.Counts
	r.dirty = true
	r.mu.Unlock()
}

// fail ends the job as failed, for a reason that no runner can overcome.
func (r *runner) fail(reason string) {
	r.mu.Lock()
	r.job.State, r.job.Error, r.job.Runner, r.dirty = StateFailed, reason, "", true
	r.job.Finished = r.m.now().UTC()
	r.mu.Unlock()
	r.log.Error("job failed", "reason", reason)
	if err := r.write(); err != nil {
		r.log.Error("cannot write the job's failure", "err", err)
	}
	r.m.metrics.duration.WithLabelValues(StateFailed).Observe(0)
}

// release gives up the lease, unless it was lost.
func (r *runner) release() {
	rev := r.leaseRev.Load()
	if rev == 0 {
		return
	}
	ctx, cancel := wctx()
	defer cancel()
	if err := r.m.leases.release(ctx, r.id, rev); err != nil {
		r.log.Warn("cannot release job lease; it will expire", "err", err)
	}
}
