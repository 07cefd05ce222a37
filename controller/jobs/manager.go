package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"cuttle/controller/events"
	"cuttle/controller/mqttmtp"
	"cuttle/devices/inventory"
	"cuttle/usp"
)

// USPClient sends USP requests to devices; *mqttmtp.Client is one.
type USPClient interface {
	// Do sends req to a device and returns its response; a USP Error
	// response is a *usperr.Error, and mqttmtp's sentinel errors say why
	// there was no answer.
	Do(ctx context.Context, endpointID string, req usp.Body) (usp.Message, error)
}

// Inventory knows the devices; *inventory.Inventory is one.
type Inventory interface {
	Get(endpointID string) (inventory.Device, bool)
	Query(q inventory.Query) (inventory.Page, error)
}

// CompletionSource follows the OperationComplete events of the commands
// run with a command key, from since on (the zero time: from now); the
// event log (controller.Events()) is one.
type CompletionSource interface {
	FollowCompletionsSince(ctx context.Context, endpointID, commandKey string, since time.Time) (*events.Completions, error)
}

var (
	_ USPClient        = (*mqttmtp.Client)(nil)
	_ Inventory        = (*inventory.Inventory)(nil)
	_ CompletionSource = (*events.Log)(nil)
)

// Config configures a Manager. JetStream, USP and Inventory are required;
// zero values of the rest mean the defaults filled in by setDefaults.
type Config struct {
	JetStream jetstream.JetStream
	// USP is the controller's USP client (controller.MTP()).
	USP USPClient
	// Inventory is the device inventory (controller.Inventory()).
	Inventory Inventory
	// Completions lets operate jobs wait for the OperationComplete of
	// asynchronous commands (controller.Events()); without it they
	// record such commands as started.
	Completions CompletionSource
	// JobsBucket and ResultsBucket name the KV buckets; default
	// "cuttle-jobs" and "cuttle-job-results".
	JobsBucket, ResultsBucket string
	// Replicas of the buckets when created; 0 leaves existing ones alone.
	Replicas int
	// ReplicaID names this controller replica in leases. It must differ
	// between live replicas; a replica restarted with the same ID takes
	// its jobs back without waiting for their leases to expire. Default:
	// the host name and a random suffix.
	ReplicaID string
	// Workers bounds the device requests in flight for all of this
	// replica's jobs together; default 500.
	Workers int
	// MaxRunning bounds the jobs this replica runs at once; default 16.
	// Others wait, pending, for a free slot here or on another replica.
	MaxRunning int
	// MaxDevices bounds the devices of one job; default 100,000.
	MaxDevices int
	// Retention is how long finished jobs are kept; default 30 days.
	Retention time.Duration
	// LeaseTTL is how long a silent replica's jobs wait before another
	// takes them over; default 15 s.
	LeaseTTL time.Duration
	// FlushInterval is how often a running job's progress is written;
	// default 500 ms.
	FlushInterval time.Duration
	// ShutdownGrace is how long requests in flight may finish, and be
	// recorded, once Run is stopping; default 5 s. Requests still out then
	// are abandoned and redone by whoever resumes the job, but for an
	// operate job's commands, whose completions it waits for instead.
	ShutdownGrace time.Duration
	// MaxResultBytes bounds a device's stored response; larger ones are
	// dropped and the result marked truncated. Default 256 KiB.
	MaxResultBytes int
	// Logger receives logs with component=jobs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil means a private registry.
	Registerer prometheus.Registerer
}

// Defaults.
const (
	DefaultJobsBucket     = "cuttle-jobs"
	DefaultResultsBucket  = "cuttle-job-results"
	DefaultWorkers        = 500
	DefaultMaxRunning     = 16
	DefaultMaxDevices     = 100_000
	DefaultRetention      = 30 * 24 * time.Hour
	DefaultLeaseTTL       = 15 * time.Second
	DefaultFlushInterval  = 500 * time.Millisecond
	DefaultShutdownGrace  = 5 * time.Second
	DefaultMaxResultBytes = 256 << 10
)

func (c *Config) setDefaults() error {
	switch {
	case c.JetStream == nil:
		return errors.New("jobs: Config.JetStream is required")
	case c.USP == nil:
		return errors.New("jobs: Config.USP is required")
	case c.Inventory == nil:
		return errors.New("jobs: Config.Inventory is required")
	}
	if c.JobsBucket == "" {
		c.JobsBucket = DefaultJobsBucket
	}
	if c.ResultsBucket == "" {
		c.ResultsBucket = DefaultResultsBucket
	}
	if c.ReplicaID == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
		c.ReplicaID = host + "-" + hex.EncodeToString(b[:])
	}
	setInt(&c.Workers, DefaultWorkers)
	setInt(&c.MaxRunning, DefaultMaxRunning)
	setInt(&c.MaxDevices, DefaultMaxDevices)
	setInt(&c.MaxResultBytes, DefaultMaxResultBytes)
	setDuration(&c.Retention, DefaultRetention)
	setDuration(&c.LeaseTTL, DefaultLeaseTTL)
	setDuration(&c.FlushInterval, DefaultFlushInterval)
	setDuration(&c.ShutdownGrace, DefaultShutdownGrace)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	return nil
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Manager creates, runs and reports bulk jobs. Create it with New and
// start it with Run; its methods are safe for concurrent use, and all but
// Run work without it (they read and write NATS).
type Manager struct {
	cfg     Config
	log     *slog.Logger
	store   *store
	leases  *leases
	metrics *metrics
	// slots holds a token per device request in flight, on all jobs.
	slots   chan struct{}
	now     func() time.Time
	wake    chan struct{} // pokes Run to look for jobs to claim
	started atomic.Bool
	runners sync.WaitGroup // the goroutines of running jobs

	mu sync.Mutex // guards running and known
	// running holds the jobs this replica runs, by ID.
	running map[string]*runner
	// known is every job record Run's watch has seen, by ID.
	known map[string]jobInfo
}

// jobInfo is what Run keeps of every job: enough for metrics, claims and
// retention.
type jobInfo struct {
	state           string
	finished        time.Time
	cancelRequested bool
}

// New opens the buckets, creating them if missing.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "jobs", "replica", cfg.ReplicaID),
		slots:   make(chan struct{}, cfg.Workers),
		now:     time.Now,
		wake:    make(chan struct{}, 1),
		running: map[string]*runner{},
		known:   map[string]jobInfo{},
	}
	var err error
	if m.store, err = openStore(ctx, &m.cfg); err != nil {
		return nil, err
	}
	m.leases = &leases{kv: m.store.jobs, owner: cfg.ReplicaID, ttl: cfg.LeaseTTL, now: m.now, seen: map[string]sighting{}}
	if m.metrics, err = newMetrics(cfg.Registerer, m); err != nil {
		return nil, err
	}
	return m, nil
}

// poke wakes Run up to look for jobs to claim.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Create validates spec, resolves its devices and stores the job as
// pending; Run (on this replica or another) starts it. An invalid spec, or
// one that chooses no device, is a *ValidationError matching ErrInvalid.
func (m *Manager) Create(ctx context.Context, spec Spec, createdBy string) (Job, error) {
	if _, err := spec.prepare(); err != nil {
		return Job{}, err
	}
	devices, err := m.resolve(spec)
	if err != nil {
		return Job{}, err
	}
	now := m.now().UTC()
	spec.Devices = nil
	id := newID(now)
	if err := spec.setCommandKey("cuttle-job-" + id); err != nil {
		return Job{}, err
	}
	j := Job{ID: id, Spec: spec, State: StatePending, Created: now, CreatedBy: createdBy, Total: len(devices), Counts: map[string]int{}}
	if err := m.store.createJob(ctx, j, devices); err != nil {
		return Job{}, err
	}
	m.log.Info("job created", "job", j.ID, "operation", spec.Operation, "devices", j.Total, "created_by", createdBy)
	m.poke()
	return j, nil
}

// resolve returns the job's devices: the explicit ones without repeats,
// or those the selector chooses now, by endpoint ID.
func (m *Manager) resolve(spec Spec) ([]string, error) {
	tooMany := &ValidationError{Fields: []FieldError{{Field: "devices", Message: fmt.Sprintf("a job takes at most %d devices", m.cfg.MaxDevices)}}}
	if spec.Selector == nil {
		seen := make(map[string]bool, len(spec.Devices))
		out := make([]string, 0, len(spec.Devices))
		for _, eid := range spec.Devices {
			if !seen[eid] {
				seen[eid] = true
				out = append(out, eid)
			}
		}
		if len(out) > m.cfg.MaxDevices {
			return nil, tooMany
		}
		return out, nil
	}
	q := spec.Selector.query()
	var out []string
	for {
		page, err := m.cfg.Inventory.Query(q)
		if err != nil {
			var fe *inventory.FieldError
			if errors.As(err, &fe) {
				return nil, &ValidationError{Fields: []FieldError{{Field: "selector." + fe.Field, Message: fe.Reason}}}
			}
			return nil, fmt.Errorf("resolving the selector: %w", err)
		}
		if page.Total > m.cfg.MaxDevices {
			return nil, &ValidationError{Fields: []FieldError{{Field: "selector",
				Message: fmt.Sprintf("chooses %d devices; a job takes at most %d", page.Total, m.cfg.MaxDevices)}}}
		}
		for _, d := range page.Devices {
			out = append(out, d.EndpointID)
		}
		// The page count is bounded by MaxDevices/MaxLimit; the length
		// check guards against a cursor that never ends.
		if page.Next == "" || len(out) > m.cfg.MaxDevices {
			break
		}
		q.Cursor = page.Next
	}
	if len(out) == 0 {
		return nil, &ValidationError{Fields: []FieldError{{Field: "selector", Message: "no device in the inventory matches"}}}
	}
	if len(out) > m.cfg.MaxDevices {
		return nil, tooMany
	}
	return out, nil
}

// Get returns a job; ErrNotFound if there is none with that ID.
func (m *Manager) Get(ctx context.Context, id string) (Job, error) {
	j, _, err := m.store.getJob(ctx, id)
	return j, err
}

// Devices returns a job's devices, in the order they are worked on.
func (m *Manager) Devices(ctx context.Context, id string) ([]string, error) {
	j, _, err := m.store.getJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return m.store.devices(ctx, j)
}

// Page sizes of List and Results.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// ListFilter selects jobs; zero fields match anything.
type ListFilter struct {
	State     string
	Operation string
}

// JobPage is a page of List.
type JobPage struct {
	Jobs []Job `json:"jobs"`
	// Next continues the listing; empty on the last page.
	Next string `json:"next,omitempty"`
}

// List returns jobs newest first, limit at a time (default 50, at most
// 1000); cursor is a previous page's Next.
func (m *Manager) List(ctx context.Context, f ListFilter, limit int, cursor string) (JobPage, error) {
	var bad fields
	if f.State != "" && !slices.Contains(States, f.State) {
		bad.add("state", "%q is not a job state", f.State)
	}
	if f.Operation != "" && !slices.Contains(Operations, f.Operation) {
		bad.add("operation", "%q is not an operation", f.Operation)
	}
	if cursor != "" && !validID(cursor) {
		bad.add("cursor", "not a cursor this API returned")
	}
	limit = pageLimit(limit, &bad)
	if err := bad.err(); err != nil {
		return JobPage{}, err
	}
	ids, err := m.store.listIDs(ctx)
	if err != nil {
		return JobPage{}, err
	}
	page := JobPage{Jobs: []Job{}}
	for _, id := range ids {
		if cursor != "" && id >= cursor {
			continue
		}
		j, _, err := m.store.getJob(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // purged meanwhile
		}
		if err != nil {
			return JobPage{}, err
		}
		if f.State != "" && j.State != f.State || f.Operation != "" && j.Spec.Operation != f.Operation {
			continue
		}
		if len(page.Jobs) == limit {
			page.Next = page.Jobs[limit-1].ID
			break
		}
		page.Jobs = append(page.Jobs, j)
	}
	return page, nil
}

func pageLimit(limit int, bad *fields) int {
	switch {
	case limit == 0:
		return DefaultLimit
	case limit < 0 || limit > MaxLimit:
		bad.add("limit", "must be between 1 and %d", MaxLimit)
	}
	return limit
}

// ResultPage is a page of Results.
type ResultPage struct {
	Results []Result `json:"results"`
	// Next continues the listing; empty on the last page.
	Next string `json:"next,omitempty"`
}

// Results returns a job's results in the order they were recorded, limit
// at a time (default 50, at most 1000), only those whose status is in
// statuses unless it is empty; cursor is a previous page's Next.
func (m *Manager) Results(ctx context.Context, id string, statuses []string, limit int, cursor string) (ResultPage, error) {
	var bad fields
	for _, s := range statuses {
		if !slices.Contains(Statuses, s) {
			bad.add("status", "%q is not a result status", s)
		}
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		bad.errs = append(bad.errs, fieldErrors(err)...)
	}
	limit = pageLimit(limit, &bad)
	if err := bad.err(); err != nil {
		return ResultPage{}, err
	}
	if _, _, err := m.store.getJob(ctx, id); err != nil {
		return ResultPage{}, err
	}
	page := ResultPage{Results: []Result{}}
	var lastSeq uint64
	err = m.store.scanResults(ctx, id, after, func(seq uint64, r Result) bool {
		if len(statuses) > 0 && !slices.Contains(statuses, r.Status) {
			return true
		}
		if len(page.Results) == limit {
			page.Next = fmt.Sprint(lastSeq) // there is more
			return false
		}
		page.Results = append(page.Results, r)
		lastSeq = seq
		return true
	})
	return page, err
}

// Cancel asks for a job to be canceled and waits a few seconds for its
// runner to end it, then returns it as it stands. A pending or running job
// ends canceled, with a "canceled" result for each device that had none;
// a job already canceled is returned as it is; one that ended otherwise is
// ErrFinished.
func (m *Manager) Cancel(ctx context.Context, id string) (Job, error) {
	const attempts = 10 // each lost race is to a progress flush; a few suffice
	for range attempts {
		j, rev, err := m.store.getJob(ctx, id)
		if err != nil {
			return Job{}, err
		}
		if j.Final() {
			if j.State == StateCanceled {
				return j, nil
			}
			return j, fmt.Errorf("%w: job %s is %s", ErrFinished, id, j.State)
		}
		if j.CancelRequested {
			break
		}
		j.CancelRequested = true
		if _, err := m.store.updateJob(ctx, j, rev); conflict(err) {
			continue
		} else if err != nil {
			return Job{}, fmt.Errorf("canceling job %s: %w", id, err)
		}
		m.log.Info("job cancel requested", "job", id)
		break
	}
	m.poke()
	return m.awaitFinal(ctx, id, cancelWait)
}

// cancelWait bounds how long Cancel waits for the runner.
const cancelWait = 5 * time.Second

// awaitFinal follows a job until it ends or wait passes, and returns it as
// last seen.
func (m *Manager) awaitFinal(ctx context.Context, id string, wait time.Duration) (Job, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ch, err := m.Watch(wctx, id)
	if err != nil {
		return Job{}, err
	}
	var last Job
	for j := range ch {
		last = j
	}
	if last.ID == "" || ctx.Err() != nil {
		return m.Get(context.WithoutCancel(ctx), id)
	}
	return last, nil
}

// Watch follows a job: the channel gets its current state, then each
// change written (progress flushes at most every FlushInterval, and the
// end), skipping states the reader was too slow to take. It is closed
// after the final state, or when ctx ends; cancel ctx and drain it to stop
// early.
func (m *Manager) Watch(ctx context.Context, id string) (<-chan Job, error) {
	if _, _, err := m.store.getJob(ctx, id); err != nil {
		return nil, err
	}
	w, err := m.store.jobs.Watch(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("watching job %s: %w", id, err)
	}
	out := make(chan Job)
	go func() { // owned by the caller's ctx; ends when it does or the job ends
		defer close(out)
		defer func() { _ = w.Stop() }()
		// cur waits to be sent while send is not nil. Select evaluates
		// every send's value, so it must be valid even when not sent.
		var cur Job
		var send chan<- Job
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue // the initial value is in
				}
				if e.Operation() != jetstream.KeyValuePut {
					return // purged
				}
				j, err := decodeJob(e.Value())
				if err != nil {
					m.log.Warn("undecodable job record", "job", id, "err", err)
					continue
				}
				cur, send = j, out
			case send <- cur:
				if cur.Final() {
					return
				}
				send = nil
			}
		}
	}()
	return out, nil
}

// clone copies j, with its own Counts.
func (j Job) clone() Job {
	j.Counts = maps.Clone(j.Counts)
	if j.Counts == nil {
		j.Counts = map[string]int{}
	}
	return j
}
