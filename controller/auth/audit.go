package auth

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Audit log limits.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
	// maxSummaryLen and maxPathLen keep one entry small whatever a client
	// sends.
	maxSummaryLen = 512
	maxPathLen    = 2048
	// Reads go through a short-lived consumer, deleted when done;
	// consumerIdle makes the server remove it anyway if the delete is lost.
	consumerIdle   = time.Minute
	cleanupTimeout = 2 * time.Second
	fetchWait      = 5 * time.Second
)

// AuditEntry records one mutating API call: who, what, when, and how it
// ended.
type AuditEntry struct {
	// ID is the audit stream's sequence number, set when read.
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	// TokenID and TokenName say who; both are empty for a call no token
	// authenticated.
	TokenID   string `json:"token_id"`
	TokenName string `json:"token_name"`
	Role      Role   `json:"role,omitempty"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	// Summary is what the handler said it did (see SetAuditSummary), such
	// as "set 3 parameters on os::012345-0001".
	Summary string `json:"summary,omitempty"`
	// Status is the HTTP status of the response.
	Status int    `json:"status"`
	Remote string `json:"remote,omitempty"`
}

func openAuditStream(ctx context.Context, cfg Config, set limitsSet) (jetstream.Stream, error) {
	want := jetstream.StreamConfig{
		Name:        cfg.AuditStream,
		Description: "Cuttle audit log: every mutating API call, who made it and how it ended",
		Subjects:    []string{cfg.AuditSubject},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.AuditMaxAge,
		MaxBytes:    cfg.AuditMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	}
	s, err := cfg.JetStream.Stream(ctx, cfg.AuditStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = cfg.JetStream.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return cfg.JetStream.Stream(ctx, cfg.AuditStream)
		}
		return s, err
	}
	if err != nil {
		return nil, err
	}
	have := s.CachedInfo().Config
	update := have
	if !slices.Contains(have.Subjects, cfg.AuditSubject) {
		update.Subjects = append(slices.Clip(have.Subjects), cfg.AuditSubject)
	}
	if set.maxAge {
		update.MaxAge = want.MaxAge
	}
	if set.maxBytes {
		update.MaxBytes = want.MaxBytes
	}
	if set.replicas {
		update.Replicas = want.Replicas
	}
	if slices.Equal(update.Subjects, have.Subjects) && update.MaxAge == have.MaxAge &&
		update.MaxBytes == have.MaxBytes && update.Replicas == have.Replicas {
		return s, nil
	}
	return cfg.JetStream.UpdateStream(ctx, update)
}

// Audit records e, setting its time to now when zero. It returns once the
// stream has stored the entry. Long summaries and paths are truncated.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.ID = 0 // the stream assigns it
	e.Summary = truncate(e.Summary, maxSummaryLen)
	e.Path = truncate(e.Path, maxPathLen)
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding audit entry: %w", err)
	}
	if _, err := s.js.Publish(ctx, s.cfg.AuditSubject, data, jetstream.WithExpectStream(s.cfg.AuditStream)); err != nil {
		return natsError(s.nc, "recording audit entry", err)
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// AuditLog returns the newest entries recorded at or after since (zero
// means any time), at most limit of them (0 means DefaultAuditLimit, capped
// at MaxAuditLimit), oldest first. To page further back, pass an earlier
// since; the newest entries come first because that is what "who changed
// what" usually asks.
func (s *Store) AuditLog(ctx context.Context, since time.Time, limit int) ([]AuditEntry, error) {
	if limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalid, limit)
	}
	limit = min(cmp.Or(limit, DefaultAuditLimit), MaxAuditLimit)
	info, err := s.audit.Info(ctx)
	if err != nil {
		return nil, natsError(s.nc, "reading audit log", err)
	}
	st := info.State
	if st.Msgs == 0 {
		return []AuditEntry{}, nil
	}
	// The stream holds one subject and entries arrive in time order, so
	// the newest limit entries are the last limit sequence numbers, and
	// those before since are at the front of them.
	start := st.FirstSeq
	if st.LastSeq >= uint64(limit) {
		start = max(start, st.LastSeq-uint64(limit)+1)
	}
	cons, err := s.js.CreateConsumer(ctx, s.cfg.AuditStream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     s.cfg.AuditSubject,
		InactiveThreshold: consumerIdle,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return nil, natsError(s.nc, "reading audit log", err)
	}
	defer s.deleteConsumer(cons)

	out := make([]AuditEntry, 0, limit)
	want := min(cons.CachedInfo().NumPending, uint64(limit))
	for got := uint64(0); got < want; {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(int(want-got), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return nil, natsError(s.nc, "reading audit log", err)
		}
		n := uint64(0)
		for m := range batch.Messages() {
			n++
			if e, ok := s.decodeAudit(m, since); ok {
				out = append(out, e)
			}
		}
		cancel()
		if err := batch.Error(); err != nil {
			return nil, natsError(s.nc, "reading audit log", err)
		}
		if n == 0 {
			break // entries removed by limits since the count
		}
		got += n
	}
	return out, nil
}

// decodeAudit turns a stored message into an entry if it is one and was
// stored at or after since.
func (s *Store) decodeAudit(m jetstream.Msg, since time.Time) (AuditEntry, bool) {
	meta, err := m.Metadata()
	if err != nil || meta.Timestamp.Before(since) {
		return AuditEntry{}, false
	}
	var e AuditEntry
	if err := json.Unmarshal(m.Data(), &e); err != nil {
		s.log.Warn("skipping undecodable audit entry", "seq", meta.Sequence.Stream, "err", err)
		return AuditEntry{}, false
	}
	e.ID = meta.Sequence.Stream
	return e, true
}

// deleteConsumer removes a finished read's consumer, even after the
// read's context has ended.
func (s *Store) deleteConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	name := cons.CachedInfo().Name
	if err := s.js.DeleteConsumer(ctx, s.cfg.AuditStream, name); err != nil {
		s.log.Debug("deleting audit consumer", "consumer", name, "err", err)
	}
}
