package testkit

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
)

// Logger is a logger for the code under test that keeps what it writes and
// prints it with the test's output only when the test failed: a passing
// test stays quiet, a failure seen once under CI's load comes with the
// daemon's own account of it (why a re-INVITE was not sent, why a call was
// refused) instead of nothing.
func Logger(t testing.TB) *slog.Logger {
	l := &testLog{}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("log of the code under test:\n%s", l.buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testLog is the buffer Logger writes to; slog's handler writes a record
// at a time, from any goroutine.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}
