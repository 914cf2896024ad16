package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Overload: past its capacity a B2BUA that takes every INVITE makes every
// call slow, the callers retransmit, and goodput collapses. The engine
// measures its own load and, once saturated, answers a new INVITE 503 with
// Retry-After before doing any work for it (no authentication, SDP, dialog
// or RTP ports), so that the calls it has accepted complete.
//
// The load is measured these ways:
//   - socket wait: how long each datagram waited in the SIP UDP socket's
//     queue before it was read (shedwire.go); a daemon that keeps up reads
//     within a millisecond, one past its capacity falls behind for every
//     message; a queue that stands at MaxWait/2 starts admission by rate
//     (below), one that has stood at MaxWait for standFor refuses every new
//     INVITE (one stall that is read away at once does neither);
//   - setups: INVITEs admitted that neither we nor the far end have acted
//     on yet (no final response from us, no response at all from the
//     callee: a leg that rings is no work of ours, however long it rings),
//     the transactions in flight; more than OverloadConfig.MaxSetups means
//     the calls already taken are waiting on each other or on a next hop
//     that does not answer;
//   - queue delay: how late a probe goroutine wakes from a 10 ms sleep,
//     smoothed; it grows when the CPU (the Go run queue, or other programs
//     on a shared board) cannot keep up, whatever the cause; it counts
//     once it has stood at MaxDelay or more for standFor;
//   - CPU: the process's CPU time over the last 100 ms against the cores it
//     may use; busy CPU alone is no overload, so it counts only together
//     with a quarter of MaxSetups in flight;
//   - memory: the live heap against the runtime's soft memory limit
//     (debug.SetMemoryLimit; serve sets one for a 128 MB board); past 80 %
//     the collector would run without pause and every call slow down, so
//     new calls are refused first; and, well before that, the heap goal
//     the runtime works to: once the limit has taken half of the headroom
//     GOGC gives above the live heap (the goal under 1.5 times the live
//     heap at GOGC 100), the collector runs back to back. Under a flood at
//     4000 calls/s the goal came down to the live heap at about 45 MB live
//     (stacks, free spans and metadata count against the limit too), the
//     collector took half the daemon's CPU, its idle workers the rest of
//     the board's, and the admitted calls themselves failed; this is the
//     measure that sees it coming (heapBound). It refuses new INVITEs
//     only while a quarter of MaxSetups or more are in setup too: then the
//     calls in flight are what holds the heap, and refusing stops them
//     piling up. What finished calls leave live for seconds holds the goal
//     as well (their transactions absorbing copies, their records on the
//     way to the store), which no refusal frees, and refusals still
//     allocate, so the collector runs on: refusing every INVITE on the
//     goal alone, with GOMEMLIMIT=64MiB (where stacks, metadata and free
//     spans leave the heap ~32 MB), trapped the daemon, 16-36 calls/s
//     completed at 2000/s offered, its admission rate begun at the few
//     calls settled while it refused;
//
// and a B2BUA call needs two free RTP port pairs.

// OverloadConfig tunes load shedding; zero fields take the defaults.
type OverloadConfig struct {
	MaxSetups int           // INVITEs in setup at once (default 200)
	MaxDelay  time.Duration // queue delay from which INVITEs are shed (default 50 ms)
	// MaxWait is the wait in the SIP socket's queue from which new INVITEs
	// are shed once it has stood that high for 250 ms (default 50 ms): a
	// stall read away at once passes, and what waits while the queue
	// stands stays inside SIP's first retransmission (500 ms).
	MaxWait    time.Duration
	RetryAfter time.Duration // base Retry-After; each 503 adds up to as much again at random (default 2 s)
}

// WithOverload sets how the engine sheds load.
func WithOverload(c OverloadConfig) Option { return func(e *Engine) { e.shed.cfg = c } }

type shedder struct {
	cfg     OverloadConfig
	gate    admission
	setups  atomic.Int64
	settled atomic.Int64 // setups ended since the gate's last adjust
	waitMin atomic.Int64 // least socket wait read since the last adjust (math.MaxInt64: none read)
	delayNs atomic.Int64 // smoothed queue delay of the probe
	delayed atomic.Bool  // delayNs has stood at MaxDelay or more for standFor
	cpuPM   atomic.Int64 // CPU use, per mille of the cores Go may use
	heapPM  atomic.Int64 // live heap, per mille of the runtime's memory limit
	shed    atomic.Uint64
	lastLog atomic.Int64 // unix seconds of the last "shedding" log line
	unrated atomic.Int64 // UDP INVITEs the socket's reader passed on without the rate (unrated)
	// The live heap and the heap goal at the last probe, and GOGC;
	// gcRan: a collection ended since the probe before.
	heapLive, heapGoal, gogc atomic.Int64
	gcRan                    atomic.Bool
}

// maxUnrated bounds the UDP INVITEs owed the rate: copies of one the
// reader could not read are counted too, yet absorbed by its transaction.
const maxUnrated = 64

// passUnrated notes a UDP INVITE the socket's reader could not read with
// certainty and passed on: admitInvite applies the rate to one UDP INVITE
// for it, so that an INVITE written to be unreadable does not slip past.
func (s *shedder) passUnrated() {
	if s.unrated.Load() < maxUnrated {
		s.unrated.Add(1)
	}
}

// takeUnrated says whether a UDP INVITE is owed the rate (passUnrated).
func (s *shedder) takeUnrated() bool {
	for {
		n := s.unrated.Load()
		if n <= 0 {
			return false
		}
		if s.unrated.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *shedder) defaults() {
	if s.cfg.MaxSetups <= 0 {
		s.cfg.MaxSetups = 200
	}
	if s.cfg.MaxDelay <= 0 {
		s.cfg.MaxDelay = 50 * time.Millisecond
	}
	if s.cfg.MaxWait <= 0 {
		s.cfg.MaxWait = 50 * time.Millisecond
	}
	if s.cfg.RetryAfter <= 0 {
		s.cfg.RetryAfter = 2 * time.Second
	}
	s.waitMin.Store(math.MaxInt64)
}

// probe measures queue delay every 10 ms and CPU every 100 ms until done.
func (s *shedder) probe(done <-chan struct{}) {
	const tick = 10 * time.Millisecond
	t := time.NewTimer(tick)
	defer t.Stop()
	var smooth float64
	var high standing
	lastCPU, lastAt := processCPU(), time.Now()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/gc/gogc:percent"}, {Name: "/gc/cycles/total:gc-cycles"}}
	var cycles uint64
	for n := 1; ; n++ {
		want := time.Now().Add(tick)
		select {
		case <-done:
			return
		case now := <-t.C:
			late := max(0, now.Sub(want))
			// Rises within a few ticks, decays over about ten.
			if float64(late) > smooth {
				smooth += 0.5 * (float64(late) - smooth)
			} else {
				smooth += 0.1 * (float64(late) - smooth)
			}
			s.delayNs.Store(int64(smooth))
			s.delayed.Store(high.over(time.Duration(smooth), s.cfg.MaxDelay, now))
			if n%10 == 0 { // adjustEvery
				s.gate.adjust(now, s.gateLoad())
				metrics.Read(live)
				if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 && live[0].Value.Kind() == metrics.KindUint64 {
					s.heapPM.Store(int64(1000 * float64(live[0].Value.Uint64()) / float64(lim)))
				}
				for i, v := range []*atomic.Int64{&s.heapLive, &s.heapGoal, &s.gogc} {
					if live[i].Value.Kind() == metrics.KindUint64 {
						v.Store(int64(min(live[i].Value.Uint64(), math.MaxInt64)))
					}
				}
				if live[3].Value.Kind() == metrics.KindUint64 {
					s.gcRan.Store(live[3].Value.Uint64() != cycles)
					cycles = live[3].Value.Uint64()
				}
				c := processCPU()
				wall := now.Sub(lastAt)
				if wall > 0 {
					s.cpuPM.Store(int64(1000 * (c - lastCPU) / wall / time.Duration(runtime.GOMAXPROCS(0))))
				}
				lastCPU, lastAt = c, now
			}
			t.Reset(tick)
		}
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// standFor is how long a delay must stand at its bound before it counts as
// saturation: a daemon that is behind stays behind, while one stalled once
// (a collection, a neighbour on a shared board taking the CPU for a
// moment) reads its backlog within milliseconds and goes on. Shorter than
// SIP's first retransmission (T1, 500 ms), so that what waits while the
// delay stands is not yet sent again.
const standFor = 250 * time.Millisecond

// standing tracks whether a delay has stood at or above its bound since
// standFor ago (or span, when set); one goroutine's alone.
type standing struct {
	since time.Time
	span  time.Duration
}

// over takes the delay measured at now and says whether it has stood at
// bound or above for standFor; one measure below bound starts afresh.
func (h *standing) over(d, bound time.Duration, now time.Time) bool {
	if d < bound {
		h.since = time.Time{}
		return false
	}
	if h.since.IsZero() {
		h.since = now
	}
	span := h.span
	if span == 0 {
		span = standFor
	}
	return now.Sub(h.since) >= span
}

// overloadedAfter says why a new INVITE must be refused now that the SIP
// socket's reader (shedwire.go) found it waited so long, its queue behind
// (at MaxWait or more for standFor), or "" when it may be taken.
func (s *shedder) overloadedAfter(waited time.Duration, behind bool, freePairs int) string {
	if behind {
		return fmt.Sprintf("overloaded: INVITE waited %d ms to be read", waited.Milliseconds())
	}
	return s.overloaded(freePairs)
}

// overloaded says why a new INVITE must be refused now, or "" when it may
// be taken.
func (s *shedder) overloaded(freePairs int) string {
	n := s.setups.Load()
	switch d := time.Duration(s.delayNs.Load()); {
	case n >= int64(s.cfg.MaxSetups):
		return fmt.Sprintf("overloaded: %d calls in setup", n)
	case s.delayed.Load():
		return fmt.Sprintf("overloaded: queue delay %d ms", d.Milliseconds())
	case s.cpuPM.Load() >= 950 && n >= int64(s.cfg.MaxSetups/4):
		return fmt.Sprintf("overloaded: CPU %d %% with %d calls in setup", s.cpuPM.Load()/10, n)
	case s.heapPM.Load() >= 800:
		return fmt.Sprintf("overloaded: live heap at %d %% of the memory limit", s.heapPM.Load()/10)
	case s.heapBound() && n >= int64(s.cfg.MaxSetups/4):
		return fmt.Sprintf("overloaded: the memory limit holds the heap goal at %d MB for %d MB live with %d calls in setup", s.heapGoal.Load()>>20, s.heapLive.Load()>>20, n)
	case freePairs < 2:
		return "overloaded: no free RTP ports"
	}
	return ""
}

// heapBound says whether the memory limit has taken half of the headroom
// GOGC gives the heap above its live part while the collector runs (0 GOGC
// or none measured: not). Both figures are the last collection's: with no
// collection since the probe before they are stale, and refusing at the
// socket allocates nothing that would bring the next one, so a goal held
// when the flood stopped would refuse every call from then on.
func (s *shedder) heapBound() bool {
	live, goal, gogc := s.heapLive.Load(), s.heapGoal.Load(), s.gogc.Load()
	return s.gcRan.Load() && live > 0 && gogc > 0 && goal-live < live*gogc/200
}

// admit takes a new INVITE into setup, or says why not; byRate also holds
// it to the admission rate (an INVITE the socket's reader passed has been).
func (s *shedder) admit(freePairs int, byRate bool, now time.Time) (bool, string) {
	if why := s.overloaded(freePairs); why != "" {
		return false, why
	}
	if byRate {
		if why := s.gate.take(now, 0, math.MaxInt64); why != "" {
			return false, why
		}
	}
	s.setups.Add(1)
	return true, ""
}

// retryAfter is the Retry-After of one 503: the base plus up to as much
// again at random, so refused callers do not come back together.
func (s *shedder) retryAfter() int {
	return int((s.cfg.RetryAfter + rand.N(s.cfg.RetryAfter+time.Second)) / time.Second)
}

// refused counts one shed INVITE and logs, one line a second at most:
// under a flood the log must not be the load.
func (e *Engine) refused(why string) {
	n := e.shed.shed.Add(1)
	if now := time.Now().Unix(); e.shed.lastLog.Swap(now) != now {
		e.log.Warn("shedding load: new INVITEs refused with 503", "why", why, "refused", n)
	}
}

func (e *Engine) freePairs() int { return e.ports.Size() - e.ports.InUse() }

func (s *shedder) leave() {
	s.setups.Add(-1)
	s.settled.Add(1)
}

// sawWait notes one datagram's socket wait for the gate's next adjust.
func (s *shedder) sawWait(w time.Duration) {
	for {
		cur := s.waitMin.Load()
		if int64(w) >= cur || s.waitMin.CompareAndSwap(cur, int64(w)) {
			return
		}
	}
}

// gateLoad takes what was measured since the gate's last adjust.
func (s *shedder) gateLoad() gateLoad {
	l := gateLoad{settled: int(s.settled.Swap(0)), waitMin: -1, bound: s.cfg.MaxWait / 2,
		setups: int(s.setups.Load()), maxSetups: s.cfg.MaxSetups}
	if w := s.waitMin.Swap(math.MaxInt64); w != math.MaxInt64 {
		l.waitMin = time.Duration(w)
	}
	return l
}

// admitInvite is the first thing a new INVITE meets: past capacity it is
// answered 503 with Retry-After and nothing else is done for it. An
// admitted INVITE counts as in setup until settled (setupOver).
func (e *Engine) admitInvite(req *sip.Request, tx sip.ServerTransaction) bool {
	// An INVITE over UDP met the admission rate at the socket (shedwire.go),
	// unless the reader could not read it (takeUnrated).
	ok, why := e.shed.admit(e.freePairs(), req.Transport() != "UDP" || e.shed.takeUnrated(), time.Now())
	if ok {
		return true
	}
	e.refused(why)
	e.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(e.shed.retryAfter())), reasonHeader(503, why))
	// Refused statelessly (RFC 3261 §8.2.7): the transaction is dropped at
	// once instead of kept for Timer I with its request, response, timers
	// and a goroutine parked on the ACK, 5 s for each refused INVITE, which
	// under a flood held more memory than the calls taken. A retransmitted
	// INVITE meets the shedder again; the ACK finds no transaction and no
	// dialog and is dropped.
	tx.Terminate()
	return false
}

// setupOver ends the call's setup (answered, refused or gone, or its
// outbound leg heard from), once.
func (c *Call) setupOver() {
	if c.inSetup.CompareAndSwap(true, false) {
		c.e.shed.leave()
	}
}

// Admission by rate. Refusing every new INVITE while the engine is behind
// and taking every one once it has caught up swings between the two: each
// swing admits a burst past capacity, whose calls then wait long enough to
// be retransmitted (or overflow the socket), and goodput falls well below
// what the engine can carry. So, as a real SBC does, once the SIP socket's
// queue stands the engine admits new INVITEs at a rate and refuses the
// rest at the socket:
//
//   - it starts limiting when the waits read in the socket's queue have
//     stood at MaxWait/2 or more for standFor/2 (a stall read away at once
//     does not count), at the rate it settled calls (left setup) over the
//     last second, or since it last settled none in an adjust, or at the
//     rate it admitted them over the last two adjusts if more (at the
//     start of a flood the calls admitted have not settled yet): what it
//     carried just before, not a constant; or when an adjust finds half
//     of MaxSetups or more in setup, at the rate settled alone (those
//     calls were admitted faster than they settle: at a flood's start
//     the setups filled before the queue stood, and MaxSetups alone then
//     refused everything until setups ended, admitting in bursts);
//   - while limiting and the queue stands, a new INVITE that itself waited
//     MaxWait or more is refused whatever the rate: the queue drains at
//     once, however far the rate is off, and every call taken meets a short
//     queue (a stall's backlog, read away at once, goes by the rate);
//   - every adjust (100 ms) that the least wait read stood at MaxWait/2 it
//     cuts the rate by 10 %, at most once per 2*standFor and never below
//     half the rate it started at: at twice the capacity the refusals
//     themselves (every INVITE read, answered, its ACK read) keep the queue
//     standing, which no cut relieves, and unbounded cuts spiralled down
//     to a third of capacity;
//   - every adjust that half of MaxSetups or more are in setup it cuts the
//     rate as for a standing queue: the calls admitted wait on each other
//     (or on the far end) before the socket's queue shows it, and past
//     MaxSetups every new INVITE is refused whatever the rate;
//   - the heap goal held by the memory limit (heapBound) does not move
//     the rate: the calls it refuses are the ones past a quarter of
//     MaxSetups in setup (overloaded), which is what piles up in the heap.
//     Cut on the held goal, the rate lost what the engine carries: by 10 %
//     a cut it let 4000/s offered through at the rate begun (47 % of SIPp
//     direct against 59-64 %); straight to the calls settled over the last
//     second it fell to half the capacity at each flood's start (27 %);
//   - every adjust that the queue did not stand and the rate refused
//     something it raises the rate 2 % (capacity comes back when a
//     neighbour on the board lets go of the CPU, and grows with every cut
//     in per-call cost), but only while what it admits is carried: fewer
//     than a quarter of MaxSetups in setup, and calls settled over the
//     last second at 90 % of the rate or more. Raised on a clear queue
//     alone, the rate crept 20 % a second past what the engine settled
//     (the least wait of an adjust is short whenever one datagram is read
//     at once), from 2078 to 3088 calls/s over two floods at 4000/s, and
//     the next flood admitted past capacity and collapsed: its calls in
//     setup at the maximum, some of them failed after 10 s;
//   - after two seconds that the rate refused nothing it stops limiting.
//
// The rate is counted on each INVITE's arrival (the kernel's stamp), not
// on when it was read: INVITEs that came at a rate the engine carries and
// waited through a stall are not refused for arriving together.
// The hard criteria (overloaded) stay: a queue that stands at MaxWait for
// standFor whatever the rate, calls in setup, heap, ports.

const (
	adjustEvery = 100 * time.Millisecond // the probe's tenth tick
	minRate     = 10.0                   // INVITEs a second the gate admits however low the throughput
	gateTicks   = 10                     // the settled history: a second of adjusts
)

// gateLoad is what the engine measured over one adjust: setups settled,
// the least socket wait read (-1: nothing read), the wait from which the
// queue counts as standing, and the calls in setup at its end against
// OverloadConfig.MaxSetups.
type gateLoad struct {
	settled   int
	waitMin   time.Duration
	bound     time.Duration
	setups    int
	maxSetups int
}

func (l gateLoad) standing() bool { return l.waitMin >= l.bound && l.waitMin >= 0 }

// crowded: half of MaxSetups or more in setup.
func (l gateLoad) crowded() bool { return l.maxSetups > 0 && 2*l.setups >= l.maxSetups }

// carried: few enough in setup that the rate may grow.
func (l gateLoad) carried() bool { return 4*l.setups < l.maxSetups || l.maxSetups <= 0 }

// admission is the admission rate of new INVITEs; adjust runs on the
// probe, start and take on the socket's reader (take also on admitInvite
// for other transports).
type admission struct {
	mu         sync.Mutex
	limiting   bool
	rate       float64   // INVITEs a second admitted while limiting
	tokens     float64   // INVITEs that may be admitted now
	at         time.Time // the arrival the tokens are counted to
	refused    int       // INVITEs refused by rate since the last adjust
	quiet      int       // adjusts in a row while limiting that refused nothing
	cut        time.Time // the rate's last cut
	floor      float64   // half the rate it started at: cuts stop there
	taken      int       // INVITEs admitted since the last adjust
	settled    [gateTicks]int
	ticks      [gateTicks]time.Time
	takenTicks [gateTicks]int
	tick       int   // adjusts done; settled[tick%gateTicks] is the latest
	perSec     int64 // settled a second lately, for overloaded (atomic)
}

// start begins limiting, at the rate settled lately, unless it already is.
func (g *admission) start(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.begin(now, false)
}

// begin starts limiting unless it already is; settledOnly leaves out the
// rate admitted lately (calls crowded in setup were admitted faster than
// the engine carries them).
func (g *admission) begin(now time.Time, settledOnly bool) {
	if !g.limiting {
		g.limiting, g.at, g.cut, g.quiet, g.refused = true, time.Time{}, now, 0, 0
		// Over the last second, or since the engine last settled nothing
		// (less that first adjust, begun from nothing midway): a flood
		// after a quiet spell would read low over the whole second.
		n := 0
		for n < min(gateTicks-1, g.tick) && g.settled[(g.tick-n)%gateTicks] > 0 {
			n++
		}
		if n > 1 && n < min(gateTicks-1, g.tick) {
			n--
		}
		g.rate = max(minRate, g.settledRate(n, now))
		if !settledOnly {
			// Or what was admitted over the last two adjusts, if more: at
			// the start of a flood the calls admitted have not settled yet.
			g.rate = max(g.rate, g.takenRate(now))
		}
		g.floor = g.rate / 2
	}
}

// takenRate is the INVITEs admitted a second over the last two adjusts
// and since.
func (g *admission) takenRate(now time.Time) float64 {
	if g.tick < 2 {
		return 0
	}
	span := now.Sub(g.ticks[(g.tick-2)%gateTicks])
	if span <= 0 {
		return 0
	}
	return float64(g.taken+g.takenTicks[g.tick%gateTicks]+g.takenTicks[(g.tick-1)%gateTicks]) / span.Seconds()
}

// take admits one new INVITE that arrived at arrival after waiting waited
// in the socket's queue (drain: the wait from which it is refused while
// limiting), or says why not.
func (g *admission) take(arrival time.Time, waited, drain time.Duration) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.limiting {
		g.taken++
		return ""
	}
	if waited >= drain {
		g.refused++
		return "overloaded: INVITE waited " + strconv.FormatInt(waited.Milliseconds(), 10) + " ms"
	}
	burst := max(1, g.rate*adjustEvery.Seconds())
	switch dt := arrival.Sub(g.at); {
	case g.at.IsZero():
		g.tokens, g.at = burst, arrival
	case dt > 0:
		g.tokens, g.at = min(burst, g.tokens+g.rate*dt.Seconds()), arrival
	}
	if g.tokens >= 1 {
		g.tokens--
		g.taken++
		return ""
	}
	g.refused++
	return "overloaded: admitting " + strconv.Itoa(int(g.rate)) + " calls/s"
}

// adjust takes one adjust's measures (every adjustEvery) and sets the rate.
func (g *admission) adjust(now time.Time, l gateLoad) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tick++
	g.settled[g.tick%gateTicks], g.ticks[g.tick%gateTicks] = l.settled, now
	g.takenTicks[g.tick%gateTicks], g.taken = g.taken, 0
	atomic.StoreInt64(&g.perSec, int64(g.settledRate(gateTicks, now)))
	refused := g.refused
	g.refused = 0
	if !g.limiting {
		if l.crowded() {
			g.begin(now, true)
		}
		return
	}
	switch {
	case l.standing() || l.crowded():
		g.quiet = 0
		if now.Sub(g.cut) >= 2*standFor {
			g.rate = max(minRate, g.floor, 0.9*g.rate)
			g.cut = now
		}
	case refused > 0:
		g.quiet = 0
		if l.carried() && g.settledRate(gateTicks, now) >= 0.9*g.rate {
			g.rate *= 1.02
		}
	default:
		if g.quiet++; g.quiet >= 20 {
			g.limiting = false
		}
	}
}

// settledRate is the setups settled a second over the last n adjusts up
// to now (the probe's ticks may come late: their own times count).
func (g *admission) settledRate(n int, now time.Time) float64 {
	n = min(n, gateTicks-1, g.tick)
	if n == 0 {
		return 0
	}
	sum := 0
	for i := range n {
		sum += g.settled[(g.tick-i)%gateTicks]
	}
	span := now.Sub(g.ticks[(g.tick-n)%gateTicks])
	if span <= 0 {
		return 0
	}
	return float64(sum) / span.Seconds()
}

// settledPerSecond is the setups settled a second lately.
func (g *admission) settledPerSecond() int { return int(atomic.LoadInt64(&g.perSec)) }

// limit says whether the gate limits and at what rate.
func (g *admission) limit() (bool, float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limiting, g.rate
}
