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
	var b Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of the code under test:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Buffer is a bytes.Buffer that goroutines may write and read at once: a
// sink for a logger or a child process's output that the test reads while
// they still write.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
