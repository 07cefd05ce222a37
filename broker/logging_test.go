package broker

import (
	"bytes"
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
