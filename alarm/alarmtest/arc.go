package alarmtest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/dc09"
)

// ARC is a DC-09 ARC on loopback that acknowledges and keeps every event
// message (NULL supervision only counted).
type ARC struct {
	*dc09.Receiver
	Addr  string
	mu    sync.Mutex
	got   []dc09.Message
	nulls int // link tests (supervision)
}

// LinkTests is how many NULL messages (path supervision) arrived.
func (a *ARC) LinkTests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nulls
}

// StartARC listens on addr ("127.0.0.1:0" for any port) until the test ends.
func StartARC(t testing.TB, addr string) *ARC {
	t.Helper()
	a := &ARC{}
	a.Receiver = &dc09.Receiver{Handle: func(m dc09.Message, _ net.Addr) dc09.Verdict {
		a.mu.Lock()
		defer a.mu.Unlock()
		if m.ID != dc09.IDNull {
			a.got = append(a.got, m)
		} else {
			a.nulls++
		}
		return dc09.VerdictAck
	}}
	var err error
	if a.Addr, err = a.Listen(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// Wait returns the events received once there are n, or when d has passed.
func (a *ARC) Wait(n int, d time.Duration) []dc09.Message {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		a.mu.Lock()
		got := append([]dc09.Message(nil), a.got...)
		a.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
	}
}
