package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults for Config.
const (
	DefaultStream   = "cuttle-events"
	DefaultSubject  = "cuttle.events"
	DefaultMaxBytes = 1 << 30 // 1 GiB
	DefaultMaxAge   = 7 * 24 * time.Hour
	// DefaultSubscriberBuffer is how many events a live subscriber may
	// have waiting in memory; see Subscribe.
	DefaultSubscriberBuffer = 64
)

// Config configures a Log.
type Config struct {
	// JetStream reaches the NATS server or cluster holding the stream.
	JetStream jetstream.JetStream
	// Stream names the stream; default "cuttle-events".
	Stream string
	// Subject is the prefix of every event's subject; default
	// "cuttle.events". The stream captures Subject + ".>".
	Subject string
	// MaxBytes and MaxAge bound the stream; the oldest events go first.
	// When Open creates the stream, zero means 1 GiB and 7 days. When the
	// stream exists, zero leaves its limit as it is and a non-zero value
	// replaces it, so a tool started with defaults never shrinks a limit
	// an operator raised, which would delete events. MaxBytes -1 means no
	// size limit.
	MaxBytes int64
	MaxAge   time.Duration
	// Replicas follows the same rule: 0 means 1 on creation and leaves an
	// existing stream's replica count alone (use 3 on a cluster).
	Replicas int
	// SubscriberBuffer is the per-subscriber channel capacity and pull
	// batch; default 64.
	SubscriberBuffer int
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Log is the event log. It keeps no state besides its configuration, so
// any number of controller replicas may share one stream; it is safe for
// concurrent use.
type Log struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger
	now    func() time.Time
}

// explicit records which limits the caller set, before setDefaults fills
// in the rest: only those may change an existing stream.
type explicit struct {
	maxBytes, maxAge, replicas bool
}

func (c *Config) setDefaults() (explicit, error) {
	set := explicit{maxBytes: c.MaxBytes != 0, maxAge: c.MaxAge != 0, replicas: c.Replicas != 0}
	if c.JetStream == nil {
		return set, errors.New("events: Config.JetStream is nil")
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if err := validPrefix(c.Subject); err != nil {
		return set, err
	}
	switch {
	case c.MaxBytes == 0:
		c.MaxBytes = DefaultMaxBytes
	case c.MaxBytes < 0:
		c.MaxBytes = -1
	}
	if c.MaxAge < 0 {
		return set, fmt.Errorf("events: %w: MaxAge %s", ErrInvalid, c.MaxAge)
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Replicas < 0 {
		return set, fmt.Errorf("events: %w: Replicas %d", ErrInvalid, c.Replicas)
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = DefaultSubscriberBuffer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return set, nil
}

// validPrefix checks a subject prefix: dot-separated non-empty tokens with
// no wildcards or white space.
func validPrefix(p string) error {
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return fmt.Errorf("events: %w: subject prefix %q", ErrInvalid, p)
		}
	}
	return nil
}

// Open opens the stream, creating it when missing and updating the limits
// the caller set explicitly (see Config).
func Open(ctx context.Context, cfg Config) (*Log, error) {
	set, err := cfg.setDefaults()
	if err != nil {
		return nil, err
	}
	l := &Log{
		cfg: cfg,
		js:  cfg.JetStream,
		log: cfg.Logger.With("component", "events"),
		now: func() time.Time { return time.Now().UTC() },
	}
	l.stream, err = openStream(ctx, cfg, set)
	if err != nil {
		return nil, fmt.Errorf("opening event stream %s: %w", cfg.Stream, err)
	}
	info := l.stream.CachedInfo()
	l.log.Info("event log open", "stream", cfg.Stream, "events", info.State.Msgs,
		"max_bytes", info.Config.MaxBytes, "max_age", info.Config.MaxAge, "replicas", info.Config.Replicas)
	return l, nil
}

func openStream(ctx context.Context, cfg Config, set explicit) (jetstream.Stream, error) {
	subjects := cfg.Subject + ".>"
	want := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Cuttle event log: device notifications and presence, by type and endpoint ID",
		Subjects:    []string{subjects},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    cfg.MaxBytes,
		MaxAge:      cfg.MaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	}
	s, err := cfg.JetStream.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = cfg.JetStream.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another replica created it between our two calls.
			return cfg.JetStream.Stream(ctx, cfg.Stream)
		}
		return s, err
	}
	if err != nil {
		return nil, err
	}
	have := s.CachedInfo().Config
	update := have
	if !slices.Contains(have.Subjects, subjects) {
		update.Subjects = append(slices.Clip(have.Subjects), subjects)
	}
	if set.maxBytes {
		update.MaxBytes = want.MaxBytes
	}
	if set.maxAge {
		update.MaxAge = want.MaxAge
	}
	if set.replicas {
		update.Replicas = want.Replicas
	}
	if slices.Equal(update.Subjects, have.Subjects) && update.MaxBytes == have.MaxBytes &&
		update.MaxAge == have.MaxAge && update.Replicas == have.Replicas {
		return s, nil
	}
	return cfg.JetStream.UpdateStream(ctx, update)
}

// subject returns where an event of this type and endpoint is stored.
func (l *Log) subject(typ, endpointID string) string {
	return l.cfg.Subject + "." + typ + "." + EndpointToken(endpointID)
}

// Publish stores e and returns it with its ID. It returns once the stream
// has acknowledged the event, so a Query that starts afterwards sees it.
func (l *Log) Publish(ctx context.Context, e Event) (Event, error) {
	if err := e.validate(); err != nil {
		return Event{}, err
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	// The stream assigns the ID; a stale one in the body would only
	// mislead, so the body always says 0 and readers take the sequence.
	e.ID = 0
	data, err := json.Marshal(e)
	if err != nil {
		return Event{}, fmt.Errorf("encoding event: %w", err)
	}
	ack, err := l.js.Publish(ctx, l.subject(e.Type, e.EndpointID), data, jetstream.WithExpectStream(l.cfg.Stream))
	if err != nil {
		return Event{}, fmt.Errorf("publishing %s event for %q: %w", e.Type, e.EndpointID, err)
	}
	e.ID = ack.Sequence
	return e, nil
}

// decode turns a stored message into an Event. ok is false, and the reason
// logged, for a message that is not a valid event: someone else published
// on our subjects, and one bad message must not hide the rest.
func (l *Log) decode(m jetstream.Msg, meta *jetstream.MsgMetadata) (Event, bool) {
	var e Event
	if err := json.Unmarshal(m.Data(), &e); err != nil {
		l.log.Warn("skipping undecodable event", "seq", meta.Sequence.Stream, "subject", m.Subject(), "err", err)
		return Event{}, false
	}
	e.ID = meta.Sequence.Stream
	return e, true
}
