// Package presence records which devices and controllers are connected, in
// the NATS KV bucket "cuttle-presence" (one key per endpoint ID, encoded as
// in the credential bucket), where the controller reads and watches it.
// The broker reports from its connection goroutines, so Record only queues:
// a writer goroutine stores the latest state per endpoint ID and retries
// through NATS outages.
package presence

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"cuttle/broker/creds"
)

// Presence is a device or controller going online or offline, as stored.
type Presence struct {
	EndpointID string    `json:"endpoint_id"`
	Role       string    `json:"role"`
	Online     bool      `json:"online"`
	Since      time.Time `json:"since"`
	Remote     string    `json:"remote"`
	Node       string    `json:"node"`
	Listener   string    `json:"listener"`
}

// DefaultBucket is the KV bucket presence is written to.
const DefaultBucket = "cuttle-presence"

// Config configures a Writer.
type Config struct {
	JetStream jetstream.JetStream
	Bucket    string // default DefaultBucket
	Replicas  int    // default 1
	Logger    *slog.Logger
	// RetryInterval is the pause after a failed write; default 1s.
	RetryInterval time.Duration
}

// Writer stores presence records in NATS KV.
type Writer struct {
	kv    jetstream.KeyValue
	log   *slog.Logger
	retry time.Duration

	mu      sync.Mutex          // guards pending
	pending map[string]Presence // latest unwritten state by endpoint ID
	wake    chan struct{}
}

// New opens (creating if needed) the presence bucket.
func New(ctx context.Context, cfg Config) (*Writer, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := cfg.JetStream.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Description: "Cuttle: devices and controllers online/offline, by endpoint ID", Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("opening presence bucket %s: %w", cfg.Bucket, err)
	}
	return &Writer{kv: kv, log: cfg.Logger.With("component", "presence"), retry: cfg.RetryInterval,
		pending: map[string]Presence{}, wake: make(chan struct{}, 1)}, nil
}

// Record queues p; a later record for the same endpoint replaces it.
func (w *Writer) Record(p Presence) {
	w.mu.Lock()
	w.pending[p.EndpointID] = p
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes queued records until ctx ends, then makes one last attempt to
// write what is left.
func (w *Writer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			w.flush(fctx)
			cancel()
			return nil
		case <-w.wake:
		}
		if !w.flush(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(w.retry):
			}
			w.retryLater()
		}
	}
}

// retryLater wakes the writer without a new record, to retry what is pending.
func (w *Writer) retryLater() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// flush writes every pending record; it reports false if any write failed
// (those records stay pending, unless a newer one replaced them).
func (w *Writer) flush(ctx context.Context) bool {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string]Presence{}
	w.mu.Unlock()
	ok := true
	for eid, p := range batch {
		val, _ := json.Marshal(p) // a Presence always marshals
		if _, err := w.kv.Put(ctx, creds.EncodeKey(eid), val); err != nil {
			ok = false
			w.mu.Lock()
			if _, newer := w.pending[eid]; !newer {
				w.pending[eid] = p
			}
			w.mu.Unlock()
			w.log.Warn("writing presence failed; will retry", "endpoint_id", eid, "error", err)
		}
	}
	return ok
}

// Get reads the stored presence of an endpoint.
func Get(ctx context.Context, kv jetstream.KeyValue, endpointID string) (Presence, error) {
	var p Presence
	e, err := kv.Get(ctx, creds.EncodeKey(endpointID))
	if err != nil {
		return p, err
	}
	err = json.Unmarshal(e.Value(), &p)
	return p, err
}
