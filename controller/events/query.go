package events

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	// MaxFilterTypes bounds Filter.Types: each type is one subject filter
	// on the server.
	MaxFilterTypes = 16
)

// Reading knobs. Queries read through short-lived consumers that are
// deleted when done; consumerIdle makes the server remove one anyway if
// the delete is lost.
const (
	consumerIdle   = time.Minute
	cleanupTimeout = 2 * time.Second
	// fetchBatch bounds one pull request; fetchWait bounds how long a pull
	// waits for messages the consumer said were pending (they can vanish
	// when limits delete old events meanwhile).
	fetchBatch = 500
	fetchWait  = 5 * time.Second
	// Newest-first reads scan windows of sequence numbers backwards (see
	// queryDesc); minWindow is the first window's width, maxWindowSteps
	// bounds the windows one query may open.
	minWindow      = 256
	maxWindowSteps = 128
)

// Filter selects events. The zero Filter selects everything, oldest first,
// up to DefaultLimit.
type Filter struct {
	// EndpointID selects one device; empty means all.
	EndpointID string
	// Types selects event types; empty means all.
	Types []string
	// Since selects events the stream stored at or after this time. The
	// stream's clock is the NATS server's, which on one machine is the
	// publisher's, so it matches Event.Time there.
	Since time.Time
	// AfterID selects events with a greater ID: the cursor for paging
	// forward, and the SSE Last-Event-ID when resuming a Subscribe.
	AfterID uint64
	// FromStart makes Subscribe replay every stored event first (AfterID
	// 0 means "from now" there). Query always starts at the start.
	FromStart bool
	// BeforeID, when not 0, selects events with a smaller ID: the cursor
	// for paging backwards with Desc (pass the last ID of the page before).
	// Subscribe does not accept it.
	BeforeID uint64
	// Limit bounds the result; 0 means DefaultLimit, and it is capped at
	// MaxLimit. Subscribe ignores it.
	Limit int
	// Desc returns the newest events first. Subscribe does not accept it.
	Desc bool
}

// subjects returns the subject filters for f: one per type, each naming
// the endpoint or a wildcard, so that the server picks the events.
func (l *Log) subjects(f Filter) ([]string, error) {
	endpoint := "*"
	if f.EndpointID != "" {
		if err := validEndpointID(f.EndpointID); err != nil {
			return nil, err
		}
		endpoint = EndpointToken(f.EndpointID)
	}
	if len(f.Types) == 0 {
		return []string{l.cfg.Subject + ".*." + endpoint}, nil
	}
	if len(f.Types) > MaxFilterTypes {
		return nil, fmt.Errorf("%w: %d event types in one filter (at most %d)", ErrInvalid, len(f.Types), MaxFilterTypes)
	}
	var out []string
	for _, t := range f.Types {
		if err := ValidType(t); err != nil {
			return nil, err
		}
		s := l.cfg.Subject + "." + t + "." + endpoint
		// The server rejects overlapping filters, and a repeated type
		// overlaps itself.
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Query returns stored events matching f, oldest first unless f.Desc. Its
// cost follows the number of matching events read, not the size of the
// stream: "the last 100 events of one device" reads about 100 events even
// when the stream holds millions from other devices.
func (l *Log) Query(ctx context.Context, f Filter) ([]Event, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("%w: negative limit %d", ErrInvalid, f.Limit)
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	subjects, err := l.subjects(f)
	if err != nil {
		return nil, err
	}
	if f.BeforeID != 0 && f.BeforeID <= f.AfterID+1 {
		return []Event{}, nil
	}
	if f.Desc {
		return l.queryDesc(ctx, f, subjects, limit)
	}
	return l.queryAsc(ctx, f, subjects, limit)
}

// queryAsc reads forward from the later of AfterID and Since.
func (l *Log) queryAsc(ctx context.Context, f Filter, subjects []string, limit int) ([]Event, error) {
	c, err := l.openStart(ctx, subjects, f)
	if err != nil {
		return nil, err
	}
	defer c.close()
	out := make([]Event, 0, min(uint64(limit), c.pending))
	err = c.read(ctx, c.pending, uint64(limit), func(m jetstream.Msg, meta *jetstream.MsgMetadata) bool {
		seq := meta.Sequence.Stream
		if f.BeforeID != 0 && seq >= f.BeforeID {
			return false
		}
		// The cursor started at one bound; the other may still exclude
		// the first few events.
		if seq <= f.AfterID || meta.Timestamp.Before(f.Since) {
			return true
		}
		if e, ok := l.decode(m, meta); ok {
			out = append(out, e)
		}
		return len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("querying events: %w", err)
	}
	return out, nil
}

// openStart opens a cursor at the later of f's two lower bounds. When both
// are set it opens one at each and keeps the one with fewer events ahead:
// both reach to the end of the stream, so that one starts later.
func (l *Log) openStart(ctx context.Context, subjects []string, f Filter) (*cursor, error) {
	if f.Since.IsZero() {
		return l.openCursor(ctx, subjects, f.AfterID+1, time.Time{})
	}
	byTime, err := l.openCursor(ctx, subjects, 0, f.Since)
	if err != nil || f.AfterID == 0 {
		return byTime, err
	}
	bySeq, err := l.openCursor(ctx, subjects, f.AfterID+1, time.Time{})
	if err != nil {
		byTime.close()
		return nil, err
	}
	if bySeq.pending <= byTime.pending {
		byTime.close()
		return bySeq, nil
	}
	bySeq.close()
	return byTime, nil
}

// queryDesc returns the newest matching events. JetStream reads only
// forward, so it reads backwards in windows of sequence numbers: a cursor
// opened at a window's start says how many matching events lie from there
// to the end, and subtracting those above the window gives how many are in
// it. A window with nothing (a quiet device in a busy stream) costs one
// consumer and no reads, and the next window is wider (see nextWidth), so
// finding a device's last events far back takes a logarithmic number of
// windows. A window holding more than twice what is still needed is narrowed before
// it is read, so a busy device's events are not read only to be dropped.
func (l *Log) queryDesc(ctx context.Context, f Filter, subjects []string, limit int) ([]Event, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("querying events: %w", err)
	}
	hi := info.State.LastSeq
	lo := max(f.AfterID+1, info.State.FirstSeq, 1)
	var above uint64 // matching events after hi
	if f.BeforeID != 0 && f.BeforeID <= hi {
		hi = f.BeforeID - 1
		c, err := l.openCursor(ctx, subjects, hi+1, time.Time{})
		if err != nil {
			return nil, err
		}
		above = c.pending
		c.close()
	}

	out := make([]Event, 0, limit)
	width := uint64(max(2*limit, minWindow))
	for step := 0; hi >= lo && len(out) < limit; step++ {
		if step == maxWindowSteps {
			return nil, fmt.Errorf("querying events: gave up after %d windows", maxWindowSteps)
		}
		need := limit - len(out)
		start := lo
		if hi-lo >= width {
			start = hi - width + 1
		}
		c, err := l.openCursor(ctx, subjects, start, time.Time{})
		if err != nil {
			return nil, err
		}
		// Events published since the stream info are counted too; they lie
		// beyond hi and are dropped below.
		inWindow := c.pending - min(above, c.pending)
		if inWindow > uint64(2*need) && hi > start {
			// Narrow to where, at this window's density, about need
			// events are: less than half the width, so this ends.
			c.close()
			width = max((hi-start+1)*uint64(need)/inWindow, 1)
			continue
		}
		var window []Event
		older := false // the window reaches back before Since
		err = c.read(ctx, inWindow, fetchBatch, func(m jetstream.Msg, meta *jetstream.MsgMetadata) bool {
			if meta.Sequence.Stream > hi {
				return false
			}
			if meta.Timestamp.Before(f.Since) {
				older = true
				return true
			}
			if e, ok := l.decode(m, meta); ok {
				window = append(window, e)
			}
			return true
		})
		c.close()
		if err != nil {
			return nil, fmt.Errorf("querying events: %w", err)
		}
		for i := len(window) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, window[i])
		}
		if older || start == lo {
			break
		}
		above = c.pending
		hi = start - 1
		width = nextWidth(width, inWindow, limit-len(out))
	}
	return out, nil
}

// nextWidth sizes the next window from this one's density: wide enough to
// hold what is still needed, with a quarter to spare, and at least twice
// as wide as this one, four times when this one was empty, so quiet
// stretches are crossed quickly.
func nextWidth(width, found uint64, need int) uint64 {
	next := 4 * width
	if found > 0 {
		next = max(2*width, width*uint64(need)*5/(4*found))
	}
	return min(next, 1<<40)
}

// cursor is an ephemeral pull consumer without acknowledgements, used for
// one read and deleted by close.
type cursor struct {
	l    *Log
	cons jetstream.Consumer
	// pending is how many matching events lay ahead when it was opened.
	pending uint64
	// next is the consumer sequence the next message must carry; a jump
	// means a pull's messages were lost, and the read fails rather than
	// silently skip events.
	next uint64
}

// openCursor opens a cursor on subjects at startSeq, or at startTime when
// that is set.
func (l *Log) openCursor(ctx context.Context, subjects []string, startSeq uint64, startTime time.Time) (*cursor, error) {
	cc := jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerIdle,
		MemoryStorage:     true,
		Replicas:          1,
	}
	if len(subjects) == 1 {
		cc.FilterSubject = subjects[0]
	} else {
		cc.FilterSubjects = subjects
	}
	if startTime.IsZero() {
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = max(startSeq, 1)
	} else {
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cc.OptStartTime = &startTime
	}
	cons, err := l.js.CreateConsumer(ctx, l.cfg.Stream, cc)
	if err != nil {
		return nil, fmt.Errorf("reading events: creating consumer: %w", err)
	}
	return &cursor{l: l, cons: cons, pending: cons.CachedInfo().NumPending, next: 1}, nil
}

// close deletes the consumer, even when the query's context has ended.
func (c *cursor) close() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	name := c.cons.CachedInfo().Name
	if err := c.l.js.DeleteConsumer(ctx, c.l.cfg.Stream, name); err != nil {
		c.l.log.Debug("deleting query consumer", "consumer", name, "err", err)
	}
}

// read passes up to n further messages to fn in stream order, pulling at
// most batch at a time, and stops early when fn returns false or the
// messages run out.
func (c *cursor) read(ctx context.Context, n, batchSize uint64, fn func(jetstream.Msg, *jetstream.MsgMetadata) bool) error {
	batchSize = min(max(batchSize, 1), fetchBatch)
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		want := min(n, batchSize)
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := c.cons.Fetch(int(want), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return err
		}
		got, stop, err := c.take(batch, fn)
		cancel()
		if err != nil {
			return err
		}
		if err := batch.Error(); err != nil {
			return err
		}
		n -= got
		if stop || got < want {
			return nil
		}
	}
	return nil
}

// take hands batch's messages to fn and drains the rest once fn has had
// enough, so the fetch has finished when it returns.
func (c *cursor) take(batch jetstream.MessageBatch, fn func(jetstream.Msg, *jetstream.MsgMetadata) bool) (got uint64, stop bool, err error) {
	for m := range batch.Messages() {
		if stop || err != nil {
			continue
		}
		meta, merr := m.Metadata()
		if merr != nil {
			err = fmt.Errorf("reading event metadata: %w", merr)
			continue
		}
		if meta.Sequence.Consumer != c.next {
			err = fmt.Errorf("events lost in transit (consumer sequence %d, want %d); try again", meta.Sequence.Consumer, c.next)
			continue
		}
		c.next++
		got++
		stop = !fn(m, meta)
	}
	return got, stop, err
}
