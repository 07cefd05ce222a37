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

func (h withoutPackets) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
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
