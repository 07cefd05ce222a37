package broker

import (
	"context"
	"log/slog"
)

// withoutPackets is the slog handler given to Mochi: it drops the whole
// packets Mochi attaches to some records ("pk", "packet"), which would put
// device payloads (USP Records, with parameter values) and properties into
// the logs and make each line kilobytes long.
type withoutPackets struct {
	slog.Handler
}

// Handle also lowers to debug the error Mochi's bolt hook logs on every first
// start ("failed to get data", "key not found", key SYS): a new store has
// no saved $SYS info yet, which is normal, and an operator's first look at
// the logs should not be an error.
func (h withoutPackets) Handle(ctx context.Context, r slog.Record) error {
	level, notFound := r.Level, false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" && a.Value.String() == "key not found" {
			notFound = true
		}
		return true
	})
	if notFound && r.Message == "failed to get data" {
		level = slog.LevelDebug
		if !h.Handler.Enabled(ctx, level) {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "pk" && a.Key != "packet" {
			out.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h withoutPackets) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withoutPackets{h.Handler.WithAttrs(attrs)}
}

func (h withoutPackets) WithGroup(name string) slog.Handler {
	return withoutPackets{h.Handler.WithGroup(name)}
}
