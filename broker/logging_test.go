package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMochiLogsWithoutPackets(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(withoutPackets{slog.NewTextHandler(&buf, nil)}).With("component", "mochi")
	log.Warn("error processing packet", "client", "os::012345-A", "pk", "{Payload:[1 2 3] secret}")
	out := buf.String()
	if strings.Contains(out, "secret") || !strings.Contains(out, "client=os::012345-A") || !strings.Contains(out, "component=mochi") {
		t.Errorf("log line %q", out)
	}
}

// TestMochiFirstStartIsNotAnError: the bolt hook's "key not found" for the
// $SYS info of a new store is logged at debug, other errors stay errors.
func TestMochiFirstStartIsNotAnError(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(withoutPackets{slog.NewTextHandler(&buf, nil)})
	log.Error("failed to get data", "hook", "bolt-db", "error", errors.New("key not found"), "key", "SYS")
	if buf.Len() != 0 {
		t.Errorf("at info level, logged %q", buf.String())
	}
	log.Error("failed to get data", "hook", "bolt-db", "error", errors.New("database not open"), "key", "SYS")
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("another error was not logged as one: %q", buf.String())
	}

	buf.Reset()
	debug := slog.New(withoutPackets{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	debug.Error("failed to get data", "hook", "bolt-db", "error", errors.New("key not found"), "key", "SYS")
	if !strings.Contains(buf.String(), "level=DEBUG") || !strings.Contains(buf.String(), "key=SYS") {
		t.Errorf("at debug level, logged %q", buf.String())
	}
}
