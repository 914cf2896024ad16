package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestCallLogNamesTheCall: a session's log line carries its call, also
// through With and WithGroup.
func TestCallLogNamesTheCall(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(callLog{slog.NewTextHandler(&buf, nil), "c1@gw"})
	log.Info("rtp timeout", "rtp_port", 10000)
	log.With("leg", "out").WithGroup("g").Warn("rtcp: report not encoded", "err", "x")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	for _, want := range [][]string{{"rtp timeout", "rtp_port=10000", "call=c1@gw"}, {"report not encoded", "call=c1@gw", "leg=out", "g.err=x"}} {
		line := lines[0]
		lines = lines[1:]
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("%q lacks %q", line, w)
			}
		}
	}
}
