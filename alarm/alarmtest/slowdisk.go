package alarmtest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// SlowDisk is a receiver's end of a call and a Queue whose first write
// ends only once the receiver has read d more of the call (its sample
// time): a durable write on a busy disk, on the call's own clock. A
// receiver whose frame loop stops while it writes never reads on, so that
// write fails after 5 s of real time (and the receiver must not
// acknowledge). Later writes go straight to the queue.
type SlowDisk struct {
	alarm.Channel
	q        alarm.Queue
	d        int64
	mu       sync.Mutex
	read     int64
	until    int64 // the write in flight ends once read reaches it; -1: none
	started  bool
	release  chan struct{}
	returned chan struct{}
}

// NewSlowDisk wraps ch (the receiver's end) and q.
func NewSlowDisk(ch alarm.Channel, d time.Duration, q alarm.Queue) *SlowDisk {
	return &SlowDisk{Channel: ch, q: q, d: alarm.Samples(d), until: -1, release: make(chan struct{}), returned: make(chan struct{})}
}

// ReadFrame reads from the wrapped Channel and counts the call's time.
func (s *SlowDisk) ReadFrame(pcm []int16) error {
	err := s.Channel.ReadFrame(pcm)
	s.mu.Lock()
	s.read += int64(len(pcm))
	due := s.until >= 0 && s.read >= s.until
	if due {
		s.until = -1
	}
	s.mu.Unlock()
	if due {
		close(s.release)
		<-s.returned // so that the receiver can take the result with this frame
	}
	return err
}

// Enqueue is the slow first write, then q's.
func (s *SlowDisk) Enqueue(ctx context.Context, ev alarm.Event) error {
	s.mu.Lock()
	first := !s.started
	if first {
		s.started, s.until = true, s.read+s.d
	}
	s.mu.Unlock()
	if !first {
		return s.q.Enqueue(ctx, ev)
	}
	defer close(s.returned)
	select {
	case <-s.release:
		return s.q.Enqueue(ctx, ev)
	case <-time.After(5 * time.Second):
		return errors.New("alarmtest: the receiver's frame loop stood still while its event was written")
	}
}
