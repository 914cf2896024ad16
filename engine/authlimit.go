package engine

import (
	"sync"
	"time"
)

// failLimiter slows password guessing: digest failures are counted per key
// (a source address, and a user of a domain). The first freeFailures cost
// nothing; each further one makes the key wait twice as long as the last
// (1 s, 2 s, 4 s … up to maxBackoff) before it is checked again, and
// blockAfter failures block it for blockFor. Failures older than
// failWindow are forgotten; a success forgets nothing, so one good account
// cannot reset the count of guesses against another. While a key waits,
// its requests are answered 403 without looking at their credentials.
type failLimiter struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*failState
}

type failState struct {
	fails int
	last  time.Time // of the last failure
	until time.Time // nothing is checked before this
}

const (
	freeFailures   = 3
	blockAfter     = 20
	maxBackoff     = time.Minute
	blockFor       = 15 * time.Minute
	failWindow     = 15 * time.Minute
	maxFailTracked = 16384 // keys remembered at once; see fail
)

func newFailLimiter() *failLimiter {
	return &failLimiter{now: time.Now, m: map[string]*failState{}}
}

// wait is how long key must still wait (0: it may be checked now).
func (l *failLimiter) wait(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[key]
	if st == nil {
		return 0
	}
	if now.Sub(st.last) > failWindow && !now.Before(st.until) {
		delete(l.m, key)
		return 0
	}
	if now.Before(st.until) {
		return st.until.Sub(now)
	}
	return 0
}

// fail counts a failure of key and says whether it has just been blocked
// (so the caller logs that once).
func (l *failLimiter) fail(key string) (blocked bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[key]
	if st == nil {
		if len(l.m) >= maxFailTracked {
			l.sweep(now)
			if len(l.m) >= maxFailTracked {
				// Full of keys still failing: an attack from very many
				// addresses. The per-user key still limits each user.
				return false
			}
		}
		st = &failState{}
		l.m[key] = st
	}
	if now.Sub(st.last) > failWindow {
		st.fails = 0
	}
	st.fails++
	st.last = now
	switch {
	case st.fails >= blockAfter:
		blocked = st.fails == blockAfter
		st.until = now.Add(blockFor)
	case st.fails > freeFailures:
		st.until = now.Add(min(time.Second<<(st.fails-freeFailures-1), maxBackoff))
	}
	return blocked
}

func (l *failLimiter) sweep(now time.Time) {
	for k, st := range l.m {
		if now.Sub(st.last) > failWindow && !now.Before(st.until) {
			delete(l.m, k)
		}
	}
}
