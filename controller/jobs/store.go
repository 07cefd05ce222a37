package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
	"cuttle/internal/natskv"
)

// chunkSize is how many endpoint IDs one device-snapshot key holds: at
// most 2,000 × (256 + 3) bytes, well under NATS's 1 MB payload limit.
const chunkSize = 2000

// fetchBatch is how many results one pull from the results stream asks
// for.
const fetchBatch = 500

// store is the jobs' NATS state: see the package documentation.
type store struct {
	js            jetstream.JetStream
	jobs          jetstream.KeyValue
	results       jetstream.KeyValue
	resultsStream jetstream.Stream
	jobsStream    jetstream.Stream
	// resultsPrefix and jobsPrefix are the subject prefixes of the
	// buckets' keys, "$KV.<bucket>.".
	resultsPrefix, jobsPrefix string
}

func openStore(ctx context.Context, cfg *Config) (*store, error) {
	s := &store{js: cfg.JetStream}
	var err error
	s.jobs, err = openBucket(ctx, cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      cfg.JobsBucket,
		Description: "Cuttle bulk jobs: <id> the job record, <id>.devices.<n> its devices, <id>.lease its runner, <id>.sent.<encoded endpoint id> operate commands sent",
		History:     1,
		Storage:     jetstream.FileStorage,
	}, cfg.Replicas)
	if err != nil {
		return nil, fmt.Errorf("opening job bucket %s: %w", cfg.JobsBucket, err)
	}
	s.results, err = openBucket(ctx, cfg.JetStream, jetstream.KeyValueConfig{
		Bucket:      cfg.ResultsBucket,
		Description: "Cuttle bulk job results: <job id>.<encoded endpoint id>",
		History:     1,
		Storage:     jetstream.FileStorage,
		// A backstop: Run purges old jobs' results itself.
		TTL: cfg.Retention + 24*time.Hour,
	}, cfg.Replicas)
	if err != nil {
		return nil, fmt.Errorf("opening job result bucket %s: %w", cfg.ResultsBucket, err)
	}
	if s.resultsStream, err = cfg.JetStream.Stream(ctx, "KV_"+cfg.ResultsBucket); err != nil {
		return nil, fmt.Errorf("opening the stream of bucket %s: %w", cfg.ResultsBucket, err)
	}
	if s.jobsStream, err = cfg.JetStream.Stream(ctx, "KV_"+cfg.JobsBucket); err != nil {
		return nil, fmt.Errorf("opening the stream of bucket %s: %w", cfg.JobsBucket, err)
	}
	s.resultsPrefix = "$KV." + cfg.ResultsBucket + "."
	s.jobsPrefix = "$KV." + cfg.JobsBucket + "."
	return s, nil
}

// conflict reports whether err is a failed revision check.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

func (s *store) getJob(ctx context.Context, id string) (Job, uint64, error) {
	if !validID(id) {
		return Job{}, 0, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	e, err := s.jobs.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Job{}, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Job{}, 0, fmt.Errorf("reading job %s: %w", id, err)
	}
	j, err := decodeJob(e.Value())
	if err != nil {
		return Job{}, 0, fmt.Errorf("job %s: %w", id, err)
	}
	return j, e.Revision(), nil
}

func decodeJob(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("decoding job record: %w", err)
	}
	return j, nil
}

// createJob stores the device snapshot, then the record, so that a
// runner that sees the record finds its devices.
func (s *store) createJob(ctx context.Context, j Job, devices []string) error {
	for n := 0; n*chunkSize < len(devices); n++ {
		chunk := devices[n*chunkSize : min(len(devices), (n+1)*chunkSize)]
		b, err := json.Marshal(chunk)
		if err != nil {
			return err
		}
		if _, err := s.jobs.Put(ctx, j.ID+".devices."+strconv.Itoa(n), b); err != nil {
			return fmt.Errorf("storing the devices of job %s: %w", j.ID, err)
		}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if _, err := s.jobs.Create(ctx, j.ID, b); err != nil {
		return fmt.Errorf("storing job %s: %w", j.ID, err)
	}
	return nil
}

// updateJob writes j if the record is still at rev, and returns the new
// revision; a conflict matches jetstream.ErrKeyRevisionMismatch.
func (s *store) updateJob(ctx context.Context, j Job, rev uint64) (uint64, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return 0, err
	}
	return s.jobs.Update(ctx, j.ID, b, rev)
}

// devices reads a job's device snapshot.
func (s *store) devices(ctx context.Context, j Job) ([]string, error) {
	out := make([]string, 0, j.Total)
	for n := 0; n*chunkSize < j.Total; n++ {
		e, err := s.jobs.Get(ctx, j.ID+".devices."+strconv.Itoa(n))
		if err != nil {
			return nil, fmt.Errorf("reading the devices of job %s: %w", j.ID, err)
		}
		var chunk []string
		if err := json.Unmarshal(e.Value(), &chunk); err != nil {
			return nil, fmt.Errorf("decoding the devices of job %s: %w", j.ID, err)
		}
		out = append(out, chunk...)
	}
	if len(out) != j.Total {
		return nil, fmt.Errorf("job %s has %d devices stored, not %d", j.ID, len(out), j.Total)
	}
	return out, nil
}

func resultKey(id, eid string) string { return id + "." + creds.EncodeKey(eid) }

// putResult records r unless the device already has a result, and
// reports whether it did.
func (s *store) putResult(ctx context.Context, id string, r Result) (bool, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if _, err := s.results.Create(ctx, resultKey(id, r.EndpointID), b); err != nil {
		if conflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("storing the result of %s in job %s: %w", r.EndpointID, id, err)
	}
	return true, nil
}

// sentMark records, in the jobs bucket under sentKey, that an operate
// job sent its Operate to a device, so that a resumed job waits for the
// command's completion instead of sending it again.
type sentMark struct {
	EndpointID string    `json:"endpoint_id"`
	Sent       time.Time `json:"sent"`
	// Response is the device's answer, written once it came with
	// asynchronous commands to wait for; nil until then.
	Response *operateResponse `json:"response,omitempty"`
}

func sentKey(id, eid string) string { return id + ".sent." + creds.EncodeKey(eid) }

// markSent records that the Operate is being sent to m.EndpointID, and
// reports false when it already was (by another runner).
func (s *store) markSent(ctx context.Context, id string, m sentMark) (bool, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	if _, err := s.jobs.Create(ctx, sentKey(id, m.EndpointID), b); err != nil {
		if conflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("recording the Operate sent to %s in job %s: %w", m.EndpointID, id, err)
	}
	return true, nil
}

// updateSent adds the device's answer to its mark.
func (s *store) updateSent(ctx context.Context, id string, m sentMark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := s.jobs.Put(ctx, sentKey(id, m.EndpointID), b); err != nil {
		return fmt.Errorf("recording the answer of %s in job %s: %w", m.EndpointID, id, err)
	}
	return nil
}

// sentMarks returns the marks of a job's devices that have no result
// (done says which have one), by endpoint ID.
func (s *store) sentMarks(ctx context.Context, id string, done map[string]bool) (map[string]sentMark, error) {
	kl, err := s.jobs.ListKeysFiltered(ctx, id+".sent.*")
	if err != nil {
		return nil, fmt.Errorf("listing the devices job %s sent its command to: %w", id, err)
	}
	var keys []string
	for k := range kl.Keys() {
		keys = append(keys, k)
	}
	_ = kl.Stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := map[string]sentMark{}
	for _, k := range keys {
		e, err := s.jobs.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", k, err)
		}
		var m sentMark
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", k, err)
		}
		if !done[m.EndpointID] {
			out[m.EndpointID] = m
		}
	}
	return out, nil
}

// scanResults calls fn with a job's results in the order they were
// stored, starting after stream sequence after, until fn returns false.
// It reads the results bucket's stream through a consumer that lives for
// this call only.
func (s *store) scanResults(ctx context.Context, id string, after uint64, fn func(seq uint64, r Result) bool) error {
	cons, err := s.resultsStream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     s.resultsPrefix + id + ".>",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute, // cleans up after a crashed caller
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("reading the results of job %s: %w", id, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.resultsStream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, fetchBatch)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("reading the results of job %s: %w", id, err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("reading the results of job %s: %w", id, err)
			}
			pending = md.NumPending
			if op := msg.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				continue
			}
			var r Result
			if err := json.Unmarshal(msg.Data(), &r); err != nil {
				return fmt.Errorf("decoding result %s: %w", msg.Subject(), err)
			}
			if !fn(md.Sequence.Stream, r) {
				return nil
			}
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("reading the results of job %s: %w", id, err)
		}
		if got == 0 {
			return fmt.Errorf("reading the results of job %s: %d results pending but none delivered", id, pending)
		}
	}
	return nil
}

// listIDs returns the IDs of every stored job, newest first.
func (s *store) listIDs(ctx context.Context) ([]string, error) {
	kl, err := s.jobs.ListKeysFiltered(ctx, "*")
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	defer kl.Stop()
	var ids []string
	seen := map[string]bool{}
	for k := range kl.Keys() {
		if validID(k) && !seen[k] { // listing may repeat keys being written
			seen[k] = true
			ids = append(ids, k)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sortDesc(ids)
	return ids, nil
}

func sortDesc(ids []string) {
	slices.Sort(ids)
	slices.Reverse(ids)
}

// purge removes a job: its results, devices, lease and sent marks, then
// its record,
// through the KV API so that watchers see it go.
func (s *store) purge(ctx context.Context, id string) error {
	if err := s.resultsStream.Purge(ctx, jetstream.WithPurgeSubject(s.resultsPrefix+id+".>")); err != nil {
		return fmt.Errorf("purging the results of job %s: %w", id, err)
	}
	if err := s.jobsStream.Purge(ctx, jetstream.WithPurgeSubject(s.jobsPrefix+id+".>")); err != nil {
		return fmt.Errorf("purging the devices of job %s: %w", id, err)
	}
	if err := s.jobs.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("purging job %s: %w", id, err)
	}
	return nil
}

// decodeCursor parses a results cursor: the stream sequence of the last
// result returned.
func decodeCursor(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, &ValidationError{Fields: []FieldError{{Field: "cursor", Message: "not a cursor this API returned"}}}
	}
	return n, nil
}

// Shared NATS plumbing (internal/natskv).
var (
	openBucket = natskv.OpenBucket
)
