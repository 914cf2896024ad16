package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/store"
)

type statsCounter struct {
	registrations atomic.Uint64
	authFailures  atomic.Uint64
	authBlocked   atomic.Uint64 // requests refused while their source or user waits (authlimit.go)
	invites       atomic.Uint64
	answered      atomic.Uint64
	recDropped    atomic.Uint64
	// guard.go: requests refused as malformed (and datagrams sipgo could
	// not parse), handler panics recovered, responses matching nothing.
	malformed, panics, strayResponses atomic.Uint64
	// RTP of ended calls (RFC 3550 A.3), and the jitter of the last one.
	rtpReceived, rtpLost atomic.Uint64
	rtpJitterNs          atomic.Int64
}

// addRTP counts the media of a call that has ended.
func (s *statsCounter) addRTP(st media.Stats) {
	s.rtpReceived.Add(st.PacketsReceived)
	if st.Lost > 0 {
		s.rtpLost.Add(uint64(st.Lost))
	}
	s.rtpJitterNs.Store(int64(st.Jitter))
}

// Stats are the engine's counters since start, for /metrics.
type Stats struct {
	Registrations  uint64 // REGISTER accepted
	AuthFailures   uint64 // digest responses that did not match
	AuthBlocked    uint64 // requests refused 403 while their source or user waits after digest failures
	Invites        uint64 // new INVITEs received
	Answered       uint64 // inbound calls answered
	ActiveCalls    int
	SIPLogDropped  uint64 // SIP messages not logged because the log fell behind
	RecordsDropped uint64 // call records not written for the same reason
	// RTP packets received and lost over the calls that have ended, and the
	// interarrival jitter of the last of them.
	RTPReceived, RTPLost uint64
	RTPJitter            time.Duration
	// Malformed counts SIP input refused or dropped as malformed: messages
	// that did not parse, and requests missing, repeating or spoiling a
	// mandatory header. Panics counts requests a handler panicked on (each
	// answered 500, the gateway kept running). StrayResponses counts
	// responses that matched no transaction.
	Malformed, Panics, StrayResponses uint64
	// Load shedding (overload.go): INVITEs refused 503 because the engine
	// was saturated, calls in setup now (admitted, neither settled by us
	// nor heard from by the callee), and the queue delay measured.
	Shed       uint64
	Setups     int
	QueueDelay time.Duration
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	s := Stats{
		Registrations:  e.stats.registrations.Load(),
		AuthFailures:   e.stats.authFailures.Load(),
		AuthBlocked:    e.stats.authBlocked.Load(),
		Invites:        e.stats.invites.Load(),
		Answered:       e.stats.answered.Load(),
		ActiveCalls:    e.Calls(),
		RecordsDropped: e.stats.recDropped.Load(),
		RTPReceived:    e.stats.rtpReceived.Load(),
		RTPLost:        e.stats.rtpLost.Load(),
		RTPJitter:      time.Duration(e.stats.rtpJitterNs.Load()),
		Malformed:      e.stats.malformed.Load(),
		Panics:         e.stats.panics.Load(),
		StrayResponses: e.stats.strayResponses.Load(),
		Shed:           e.shed.shed.Load(),
		Setups:         int(e.shed.setups.Load()),
		QueueDelay:     time.Duration(e.shed.delayNs.Load()),
	}
	if e.trace != nil {
		s.SIPLogDropped = e.trace.dropped.Load()
	}
	return s
}

func callKind(route string) string {
	kind, _, _ := strings.Cut(route, "/")
	switch kind {
	case "alarmbridge":
		return "alarm"
	case "":
		return ""
	}
	return kind
}

// recordCall queues the call's record for the store; result "" while the
// call is up. Written off the signalling path, in batches (recordLoop).
func (e *Engine) recordCall(c *Call, result string) {
	route := c.routeName()
	if c.ID != "" && e.events != nil {
		ev := Event{Type: EventCallStart, Domain: c.Domain, CallID: c.ID, From: c.Caller, To: c.Called, Route: route,
			Start: c.Start, Answer: c.Answered(), Result: result}
		switch {
		case result != "":
			ev.Type = EventCallEnd
		case !ev.Answer.IsZero():
			ev.Type = EventCallAnswer
		}
		e.emit(ev)
	}
	if e.db == nil || c.ID == "" {
		return
	}
	r := store.CallRecord{
		CallID: c.ID, Domain: c.Domain, Kind: callKind(route),
		From: c.Caller, To: c.Called, Start: c.Start, Answer: c.Answered(),
		Result: result, Direction: "inbound", Local: e.Addr(), Remote: c.Source, Trunk: c.Trunk,
	}
	if !c.Inbound {
		r.Direction = "outbound" // a leg the gateway placed (dial)
	}
	c.mu.Lock()
	r.Cause = string(c.cause)
	c.mu.Unlock()
	if result != "" {
		r.End = time.Now()
		r.RTPLost = c.stats.Lost
		r.RTPJitter = float64(c.stats.Jitter) / float64(time.Millisecond)
	}
	select {
	case e.recs <- r:
	default:
		e.stats.recDropped.Add(1)
	}
}

type recordKey struct{ domain, callID string }

// latestRecords keeps, of the records of one call in batch, only the last
// (in place, order kept): the store replaces a call's record by its newer
// one anyway, and under load a short call's start, answer and end often
// queue together, so three records of a call appended to the history
// become one. last is scratch space, reused.
func latestRecords(batch []store.CallRecord, last map[recordKey]int) []store.CallRecord {
	clear(last)
	for i, r := range batch {
		last[recordKey{r.Domain, r.CallID}] = i
	}
	if len(last) == len(batch) {
		return batch
	}
	out := batch[:0]
	for i, r := range batch {
		if last[recordKey{r.Domain, r.CallID}] == i {
			out = append(out, r)
		}
	}
	return out
}

// recordGather is how long recordLoop collects records before writing
// them: one write() per 100 ms under load instead of one per record, and
// a short call's start, answer and end then usually fall in one batch
// (latestRecords).
const recordGather = 100 * time.Millisecond

// recordHold is how long recordLoop holds back the record of a call that
// is up (its start or answer) for a newer one to replace it: a call that
// ends within it is written once, ended, instead of two or three times
// (1.8 records a leg at 500 calls/s without it, a batch boundary falling
// inside many short calls). Readers of the history see a call that is up
// at most this much later, and a crash of the daemon forgets the calls
// that started within it and were still up: the second a power cut may
// take from the history anyway.
const recordHold = time.Second

// recordHeldMax bounds the calls held back; past it a call's start is
// written at once.
const recordHeldMax = 4096

// recordHolder holds back the records of calls that are up (recordHold).
type recordHolder struct {
	last map[recordKey]int // latestRecords' scratch
	held map[recordKey]heldRecord
}

// heldRecord is a call's latest record, held back since since.
type heldRecord struct {
	r     store.CallRecord
	since time.Time
}

// pass returns the records to write now (in place of batch): of each call
// in batch its latest record when the call has ended, or has been held
// back for recordHold, or all is set (the engine stops); and the held
// records whose time is up. The others it holds.
func (h *recordHolder) pass(batch []store.CallRecord, now time.Time, all bool) []store.CallRecord {
	batch = latestRecords(batch, h.last)
	out := batch[:0]
	for _, r := range batch {
		k := recordKey{r.Domain, r.CallID}
		prev, was := h.held[k]
		if r.End.IsZero() && !all && (was || len(h.held) < recordHeldMax) {
			if !was {
				prev.since = now
			}
			h.held[k] = heldRecord{r, prev.since}
			continue
		}
		delete(h.held, k)
		out = append(out, r)
	}
	for k, hr := range h.held {
		if all || now.Sub(hr.since) >= recordHold {
			out = append(out, hr.r)
			delete(h.held, k)
		}
	}
	return out
}

// recordLoop writes call records in batches: whatever queues within
// recordGather of the first goes to the store in one RecordCalls, latest
// version of each call only (three a call: start, answer, end), a call
// that is up held back (recordHolder).
func (e *Engine) recordLoop(ctx context.Context) {
	var batch []store.CallRecord // grows with load: a quarter MB at its bound
	h := recordHolder{last: map[recordKey]int{}, held: map[recordKey]heldRecord{}}
	gather := time.NewTimer(recordGather)
	gather.Stop()
	write := func(all bool) {
		if out := h.pass(batch, time.Now(), all); len(out) > 0 {
			if err := e.db.RecordCalls(out); err != nil {
				e.log.Warn("call records not written", "n", len(out), "err", err)
			}
		}
		batch = batch[:0]
		if len(h.held) > 0 && !all {
			gather.Reset(recordGather) // to write them when their time is up
		}
	}
	for {
		select {
		case r := <-e.recs:
			if len(batch) == 0 {
				gather.Reset(recordGather)
			}
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				gather.Stop()
				write(false)
			}
		case <-gather.C:
			if len(batch) > 0 || len(h.held) > 0 {
				write(false)
			}
		case <-ctx.Done():
			gather.Stop()
			for {
				select {
				case r := <-e.recs:
					batch = append(batch, r)
				default:
					write(true)
					return
				}
			}
		}
	}
}
