package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
)

// Call queuing (a group's ringExclusive 1, after a hosted PBX API's "call
// queuing for this group"). A call to the group joins the group's queue;
// the call at its head rings, by the group's ringStrategy, the members that
// are free: registered, in no call, and not ringing for another queued
// call. While no member is free the caller waits and hears ringback the
// gateway plays into early media (183 with our SDP), repeated every minute
// so that no proxy on the way gives up (RFC 3261 §13.3.1.1). Callers are
// served in arrival order; one who hangs up leaves the queue. A call that
// finds queueMaxCallers waiting is refused 486 at once, one that waited
// queueMaxWait gets 480, both with a Reason. When the members it rang do
// not answer, the call ends as an unqueued group call does (ringRetry is
// not implemented). The members the head call's plan may ring are kept for
// it until it is answered or gives up, so the next call does not ring
// them meanwhile. A waiting call is no longer counted by the load shedder
// as in setup.
//
// A queue that holds more than the alert's calls, or whose oldest caller
// has waited longer than its wait (WithQueueAlert), files
// AlertCallQueueBacklog for the group, once until both are under again.
//
// The queue's times (the give-up, the 183 repeat, the alert's wait) are
// read from pbxState.now, so that tests move a clock instead of waiting
// minutes; its wake-ups are the changes and the poll each second.

const (
	QueueMaxCallers = 10              // waiting calls per group
	QueueMaxWait    = 5 * time.Minute // before a waiting caller is given up
	queueRepeat     = time.Minute     // the 183 again, for proxies' timers
	// queuePoll looks at the members again without a change: a member
	// that registers does not wake the queue.
	queuePoll = time.Second
)

// groupQueue is a call's place to wait: its group and the group's users.
type groupQueue struct {
	domain  string
	group   *Group
	members []User
}

func (q *groupQueue) key() string { return q.domain + "\x00" + q.group.ID }

// queueTicket is one waiting call, since when it waits.
type queueTicket struct {
	key   string
	since time.Time
}

// now is the queue's clock (clock, else the time of day).
func (p *pbxState) now() time.Time {
	if p.clock != nil {
		return p.clock()
	}
	return time.Now()
}

// queues are the waiting calls of each group (pbxState.waiting) and the
// members ringing for a queued call (pbxState.taken), under pbxState.mu.

// join puts a new ticket at the end of the queue key, unless max calls
// wait there already.
func (p *pbxState) join(key string, max int) (*queueTicket, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == nil {
		p.waiting, p.taken = map[string][]*queueTicket{}, map[string]int{}
	}
	if len(p.waiting[key]) >= max {
		return nil, false
	}
	t := &queueTicket{key: key, since: p.now()}
	p.waiting[key] = append(p.waiting[key], t)
	return t, true
}

// leave takes t out of its queue (again is harmless); the next call may
// be first now.
func (p *pbxState) leave(t *queueTicket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.waiting[t.key]
	for i, x := range q {
		if x == t {
			q = append(q[:i:i], q[i+1:]...)
			if len(q) == 0 {
				delete(p.waiting, t.key)
			} else {
				p.waiting[t.key] = q
			}
			p.signalLocked()
			return
		}
	}
}

// first says whether t is at the head of its queue.
func (p *pbxState) first(t *queueTicket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.waiting[t.key]
	return len(q) > 0 && q[0] == t
}

// queued is how many calls wait in the queue of group id of domain.
func (p *pbxState) queued(domain, id string) int {
	n, _ := p.backlog(domain + "\x00" + id)
	return n
}

// backlog is how many calls wait in queue key and how long the first has.
func (p *pbxState) backlog(key string) (int, time.Duration) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.waiting[key]
	if len(q) == 0 {
		return 0, 0
	}
	return len(q), now.Sub(q[0].since)
}

// Defaults of the call queue backlog alert (serve --alert-call-queue-calls,
// --alert-call-queue-wait): more than half the queue's room taken, or a
// caller waiting past 2 of its 5 minutes.
const (
	DefaultQueueAlertCalls = 5
	DefaultQueueAlertWait  = 2 * time.Minute
)

// WithQueueAlert sets when a group's call queue files
// AlertCallQueueBacklog: more than calls waiting (1 to QueueMaxCallers-1),
// or the oldest waiting longer than wait (1 s to under QueueMaxWait); a
// zero or out of range value keeps its default, which New reports.
func WithQueueAlert(calls int, wait time.Duration) Option {
	return func(e *Engine) { e.pbx.alertCalls, e.pbx.alertWait = calls, wait }
}

// CheckQueueAlert is the one check of WithQueueAlert's thresholds.
func CheckQueueAlert(calls int, wait time.Duration) error {
	if calls < 1 || calls >= QueueMaxCallers {
		return fmt.Errorf("call queue alert calls: %d is not 1 to %d (a queue holds at most %d)", calls, QueueMaxCallers-1, QueueMaxCallers)
	}
	if wait < time.Second || wait >= QueueMaxWait {
		return fmt.Errorf("call queue alert wait: %s is not 1s to under %s (a caller waits at most %s)", wait, QueueMaxWait, QueueMaxWait)
	}
	return nil
}

// queueAlert raises or clears the backlog alert of q's group from the
// queue as it is now; serialised, so that an older look never overrides a
// newer one.
func (e *Engine) queueAlert(q *groupQueue) {
	e.pbx.alertMu.Lock()
	defer e.pbx.alertMu.Unlock()
	n, waited := e.pbx.backlog(q.key())
	key, name := "group "+q.group.ID, q.group.GroupName
	switch {
	case n > e.pbx.alertCalls:
		e.raise(q.domain, AlertCallQueueBacklog, key,
			fmt.Sprintf("%d calls wait in the queue of group %s (more than %d)", n, name, e.pbx.alertCalls), "")
	case n > 0 && waited > e.pbx.alertWait:
		e.raise(q.domain, AlertCallQueueBacklog, key,
			fmt.Sprintf("the first caller in the queue of group %s has waited %s (longer than %s)", name, waited.Round(time.Second), e.pbx.alertWait), "")
	default:
		e.clearAlert(q.domain, AlertCallQueueBacklog, key, fmt.Sprintf("%d calls wait in the queue of group %s", n, name))
	}
}

// take marks the devices keys as ringing for a queued call; untake ends it.
func (p *pbxState) take(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		p.taken[k]++
	}
}

func (p *pbxState) untake(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		if p.taken[k]--; p.taken[k] <= 0 {
			delete(p.taken, k)
		}
	}
	p.signalLocked()
}

// isTaken says whether key rings for a queued call.
func (p *pbxState) isTaken(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken[key] > 0
}

// dialQueued waits for the call's turn in the queue of spec.queue's group
// and for a free member, then rings the free members by the group's plan.
// spec.onQueued runs once when the call has to wait.
func (e *Engine) dialQueued(ctx context.Context, spec dialSpec) (*Call, error) {
	q := spec.queue
	spec.queue = nil
	t, ok := e.pbx.join(q.key(), QueueMaxCallers)
	if !ok {
		return nil, &DialError{Code: 486, Reason: fmt.Sprintf("the queue of group %s is full (%d calls waiting)", q.group.GroupName, QueueMaxCallers)}
	}
	defer func() {
		e.pbx.leave(t)
		e.queueAlert(q)
	}()
	poll := time.NewTicker(queuePoll)
	defer poll.Stop()
	waiting := false
	for {
		changed := e.pbx.watch()
		e.queueAlert(q)
		if e.pbx.now().Sub(t.since) >= QueueMaxWait {
			return nil, &DialError{Code: 480, Reason: fmt.Sprintf("no member of group %s was free within %s in its queue", q.group.GroupName, QueueMaxWait)}
		}
		if e.pbx.first(t) {
			plan, err := e.groupPlan(spec, q.domain, q.group, q.members, e.pbx.isTaken)
			var de *DialError
			switch {
			case err == nil:
				var keys []string
				for _, st := range plan {
					for _, l := range st.legs {
						keys = append(keys, l.busyKey)
					}
				}
				// Taken before the call leaves the queue: the next one
				// must not ring the same members.
				e.pbx.take(keys)
				e.pbx.leave(t)
				e.queueAlert(q)
				defer e.pbx.untake(keys)
				spec.plan = plan
				return e.ringPlan(ctx, spec)
			case !errors.As(err, &de):
				return nil, err
			}
		}
		if !waiting {
			waiting = true
			e.log.Info("call queued", "group", q.group.GroupName, "domain", q.domain, "waiting", e.pbx.queued(q.domain, q.group.ID))
			if spec.onQueued != nil {
				spec.onQueued()
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("engine: call cancelled in the queue: %w", ctx.Err())
		case <-changed:
		case <-poll.C:
		}
	}
}

// queueRingback tells the waiting caller of in that it is queued: with an
// SDP offer, a 183 answering it and the ringback tone (425 Hz, 1 s on, 4 s
// off, ETSI ES 201 970) played into that early media; without one, 182
// Queued (the phone then plays its own ringback). The returned stop ends
// the tone and gives the leg back its negotiated direction, before the
// member's answer is bridged.
func (c *Call) queueRingback() (stop func()) {
	// A waiting call costs no work: it leaves the load shedder's count of
	// calls in setup (overload.go), the queue's bound is its own.
	c.setupOver()
	// Read before the response goes: the clock may move once it is out.
	sent := c.e.pbx.now()
	if c.offer == nil || c.earlyMedia(183, "Session Progress") != nil {
		return c.repeatQueued(sent)
	}
	sess := c.Session()
	neg := c.Negotiated()
	// The caller need not send while it waits: no RTP timeout meanwhile.
	waitNeg := neg
	waitNeg.Direction = sdp.SendOnly
	_ = sess.Apply(waitNeg)
	stopTone := untilStopped(func(quit <-chan struct{}) { playRingback(c, sess, c.e.pbx.now, sent, quit) })
	var once sync.Once
	return func() {
		once.Do(func() {
			stopTone()
			_ = sess.Apply(neg)
		})
	}
}

// untilStopped runs f in a goroutine of its own; stop (once or more)
// closes f's quit and waits for f to return.
func untilStopped(f func(quit <-chan struct{})) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		f(quit)
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

// repeatQueued sends 182 Queued now and again every queueRepeat (RFC 3261
// §13.3.1.1 asks for a provisional response each minute) until stop;
// sent is the queue clock's time before the first.
func (c *Call) repeatQueued(sent time.Time) (stop func()) {
	_ = c.progress(182, "Queued")
	return untilStopped(func(quit <-chan struct{}) {
		tick := time.NewTicker(queuePoll)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			if t := c.e.pbx.now(); t.Sub(sent) >= queueRepeat {
				sent = t
				_ = c.progress(182, "Queued")
			}
		}
	})
}

// playRingback writes the ringback tone to sess, paced by its clock, until
// quit or the session ends, and repeats the 183 (last sent at sent) every
// queueRepeat of now.
func playRingback(c *Call, sess *media.Session, now func() time.Time, sent time.Time, quit <-chan struct{}) {
	g, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: 425, DBm0: -10, Ms: 1000}, dsp.ToneSegment{Ms: 4000})
	if err != nil {
		return
	}
	var frame [media.FrameSamples]int16
	for {
		select {
		case <-quit:
			return
		default:
		}
		if t := now(); t.Sub(sent) >= queueRepeat {
			sent = t
			c.mu.Lock()
			body := c.local.Marshal()
			c.mu.Unlock()
			_ = c.provisional(183, "Session Progress", body, sip.NewHeader("Content-Type", "application/sdp"))
		}
		if sess.ReadFrame(frame[:]) != nil {
			return
		}
		g.Generate(frame[:])
		if sess.WriteFrame(frame[:]) != nil {
			return
		}
	}
}
