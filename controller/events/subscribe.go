package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Re-subscription back-off while a live feed's consumer keeps failing.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
	// feedHeartbeat is how often the server reassures an idle feed that
	// its consumer exists; two missed ones make the feed start a new
	// consumer, so a feed recovers within seconds of a server restart.
	feedHeartbeat = 2 * time.Second
	feedExpiry    = 10 * time.Second
)

// errGap means a feed's consumer skipped a delivery, so the feed starts a
// new consumer where it left off.
var errGap = errors.New("delivery gap")

// Subscribe returns a live feed of events matching f, closed when ctx ends.
// Without AfterID, FromStart or Since it starts with the first event stored
// after Subscribe returns; with AfterID it first replays the stored events
// after that ID (the SSE Last-Event-ID), with FromStart every stored event,
// then continues live. Events that limits
// deleted before they were replayed are skipped without notice.
//
// Slow subscribers: each feed reads the stream through its own JetStream
// consumer, pulling only as fast as its reader takes events. A reader that
// stops reading holds at most Config.SubscriberBuffer events in its channel
// and as many in its pull buffer; the rest wait in the stream, where they
// are anyway. So a slow subscriber never blocks Publish or other
// subscribers, and loses nothing while it catches up within the stream's
// limits. It is never disconnected for being slow: the caller ends it with
// ctx (an SSE handler uses the request's context and write deadlines).
//
// The feed rides out NATS outages and server restarts by opening a new
// consumer after the last event it delivered. It is closed early only if
// ctx ends.
func (l *Log) Subscribe(ctx context.Context, f Filter) (<-chan Event, error) {
	if f.Desc || f.BeforeID != 0 {
		return nil, fmt.Errorf("%w: a live feed cannot be newest-first or end before an ID", ErrInvalid)
	}
	subjects, err := l.subjects(f)
	if err != nil {
		return nil, err
	}
	fd := &feed{l: l, f: f, subjects: subjects, out: make(chan Event, l.cfg.SubscriberBuffer)}
	// The first consumer is made here, not in the goroutine, so that
	// "from now" means from this call and a bad stream is reported.
	var start consumerStart
	switch {
	case f.AfterID > 0:
		start.seq = f.AfterID + 1
	case f.FromStart:
		start.seq = 1
	case !f.Since.IsZero():
		start.time = f.Since
	default:
		start.new = true
	}
	cons, err := fd.consumer(ctx, start)
	if err != nil {
		return nil, fmt.Errorf("subscribing to events: %w", err)
	}
	go fd.run(ctx, cons)
	return fd.out, nil
}

// feed is one live subscription. Its goroutine owns every field but out's
// receiving end, and ends when ctx does.
type feed struct {
	l        *Log
	f        Filter
	subjects []string
	out      chan Event
	// next is the stream sequence to resume from if the consumer fails.
	next uint64
}

type consumerStart struct {
	new  bool
	seq  uint64
	time time.Time
}

// consumer creates a pull consumer for the feed and sets next to where it
// starts, which the server reports as its last delivered stream sequence.
func (fd *feed) consumer(ctx context.Context, start consumerStart) (jetstream.Consumer, error) {
	cc := jetstream.ConsumerConfig{
		AckPolicy: jetstream.AckNonePolicy,
		// A reader that stops reading leaves no pull request open; after
		// this long the server drops the consumer and, when the reader
		// comes back, run makes a new one where it stopped.
		InactiveThreshold: consumerIdle,
		MemoryStorage:     true,
		Replicas:          1,
	}
	if len(fd.subjects) == 1 {
		cc.FilterSubject = fd.subjects[0]
	} else {
		cc.FilterSubjects = fd.subjects
	}
	switch {
	case start.new:
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	case !start.time.IsZero():
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cc.OptStartTime = &start.time
	default:
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = max(start.seq, 1)
	}
	cons, err := fd.l.stream.CreateConsumer(ctx, cc)
	if err != nil {
		return nil, err
	}
	fd.next = cons.CachedInfo().Delivered.Stream + 1
	return cons, nil
}

// run delivers events until ctx ends, replacing the consumer whenever it
// fails, then closes out.
func (fd *feed) run(ctx context.Context, cons jetstream.Consumer) {
	defer close(fd.out)
	backoff := minRetry
	for {
		delivered, err := fd.follow(ctx, cons)
		fd.deleteConsumer(cons)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			backoff = minRetry
		}
		fd.l.log.Debug("event feed interrupted; resuming", "next_id", fd.next, "err", err, "retry_in", backoff)
		for cons = nil; cons == nil; {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxRetry)
			cctx, cancel := context.WithTimeout(ctx, maxRetry)
			cons, err = fd.consumer(cctx, consumerStart{seq: fd.next})
			cancel()
			if err != nil && ctx.Err() == nil {
				fd.l.log.Warn("cannot resume event feed", "next_id", fd.next, "err", err, "retry_in", backoff)
			}
		}
	}
}

// follow passes cons's events to out until ctx ends or the consumer fails,
// and reports whether it delivered any.
func (fd *feed) follow(ctx context.Context, cons jetstream.Consumer) (delivered bool, err error) {
	it, err := cons.Messages(
		jetstream.PullMaxMessages(fd.l.cfg.SubscriberBuffer),
		jetstream.PullExpiry(feedExpiry),
		jetstream.PullHeartbeat(feedHeartbeat),
		// Without this a consumer lost in a server restart would leave the
		// iterator waiting forever.
		jetstream.WithMessagesErrOnMissingHeartbeat(true),
	)
	if err != nil {
		return false, err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	want := uint64(1) // consumer sequence of the next message
	for {
		m, err := it.Next()
		if err != nil {
			return delivered, err
		}
		meta, err := m.Metadata()
		if err != nil {
			return delivered, err
		}
		if meta.Sequence.Consumer != want {
			return delivered, fmt.Errorf("%w: consumer sequence %d, want %d", errGap, meta.Sequence.Consumer, want)
		}
		want++
		seq := meta.Sequence.Stream
		fd.next = seq + 1
		if seq <= fd.f.AfterID || meta.Timestamp.Before(fd.f.Since) {
			continue
		}
		e, ok := fd.l.decode(m, meta)
		if !ok {
			continue
		}
		select {
		case fd.out <- e:
			delivered = true
		case <-ctx.Done():
			return delivered, ctx.Err()
		}
	}
}

// deleteConsumer removes a finished consumer now rather than leaving it
// for the server's inactivity timer, even after ctx has ended.
func (fd *feed) deleteConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	name := cons.CachedInfo().Name
	if err := fd.l.js.DeleteConsumer(ctx, fd.l.cfg.Stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		fd.l.log.Debug("deleting feed consumer", "consumer", name, "err", err)
	}
}
