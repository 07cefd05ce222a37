package embednats

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

// LevelTrace is the slog level of nats-server's protocol traces. They are
// only produced when the handler is enabled at this level, because tracing
// formats every protocol line.
const LevelTrace = slog.LevelDebug - 4

// natsLogger adapts nats-server's printf-style Logger to slog. The server's
// notices (its start-up banner, listener and JetStream details) go to Debug:
// embedded, they are Cuttle's internals, and Start logs one Info line of its
// own. Warnings and errors keep their level.
type natsLogger struct {
	log   *slog.Logger
	debug bool
	trace bool

	mu       sync.Mutex // guards fatalMsg
	fatalMsg string
}

var _ server.Logger = (*natsLogger)(nil)

func newNATSLogger(log *slog.Logger) *natsLogger {
	ctx := context.Background()
	return &natsLogger{
		log:   log,
		debug: log.Enabled(ctx, slog.LevelDebug),
		trace: log.Enabled(ctx, LevelTrace),
	}
}

// fatal reports the first fatal message, or "" when there was none.
func (l *natsLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatalMsg
}

func (l *natsLogger) logf(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, v...))
}

func (l *natsLogger) Noticef(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.logf(slog.LevelWarn, format, v) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.logf(slog.LevelDebug, format, v) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.logf(LevelTrace, format, v) }

// Fatalf must not exit the process, as nats-server's own logger does: the
// server runs inside Cuttle. The message is kept so Start can return it.
func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.fatalMsg == "" {
		l.fatalMsg = msg
	}
	l.mu.Unlock()
	l.log.Error(msg, "fatal", true)
}
