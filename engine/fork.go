package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/store"
)

// Forking (RFC 3261 §16.7, as a B2BUA does it): a call to a device with
// several registrations rings every one of them at once; the first to
// answer takes the call and the others get a CANCEL with
// Reason: SIP;cause=200;text="Call completed elsewhere" (RFC 3326), so a
// phone does not log the call as missed. Group ringing (group.go) is the
// same machinery in stages: each stage rings its legs at once for at most
// its ring time, then the next stage rings.

// completedElsewhere is the Reason of the CANCEL a losing branch gets.
const completedElsewhere = `SIP;cause=200;text="Call completed elsewhere"`

// cancelGiveUp bounds the wait for a cancelled branch's final response
// (64*T1, RFC 3261 §9.1): a peer that never sends 487 does not hold the
// branch open.
const cancelGiveUp = 32 * time.Second

// ringStage is one step of a ringing plan: its legs ring at once.
type ringStage struct {
	legs []dialSpec
	// ringFor bounds the stage; 0 rings until an answer, a refusal from
	// every leg or the caller's CANCEL.
	ringFor time.Duration
}

// forkLeg is what dial tells the fork about one branch: its INVITE (for
// the CANCEL) and its first provisional response (a CANCEL may only follow
// one, RFC 3261 §9.1).
type forkLeg struct {
	mu      sync.Mutex
	inv     *sip.Request
	ringing chan struct{}
	once    sync.Once
	done    chan struct{} // closed when dial returned
}

func newForkLeg() *forkLeg {
	return &forkLeg{ringing: make(chan struct{}), done: make(chan struct{})}
}

// invited is called by dial once the INVITE is sent (nil-safe).
func (l *forkLeg) invited(r *sip.Request) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.inv = r
	l.mu.Unlock()
}

// provisional is called by dial for every provisional response (nil-safe).
func (l *forkLeg) provisional() {
	if l == nil {
		return
	}
	l.once.Do(func() { close(l.ringing) })
}

// deviceLegs is one leg per binding of a device, each addressed as
// deviceSpec addresses one (base gives the caller, media and headers).
func (e *Engine) deviceLegs(base dialSpec, bs []store.Binding) ([]dialSpec, error) {
	legs := make([]dialSpec, 0, len(bs))
	for _, b := range bs {
		s := base
		s.headers = append([]sip.Header(nil), base.headers...)
		if err := e.deviceSpec(&s, []store.Binding{b}); err != nil {
			return nil, err
		}
		s.busyKey = busyKey(b.Domain, deviceOf(b))
		legs = append(legs, s)
	}
	return legs, nil
}

func deviceOf(b store.Binding) string {
	if b.DeviceID != "" {
		return b.DeviceID
	}
	return b.AOR
}

// dialAny places the outbound leg of spec: directly when it has no ringing
// plan, else by its plan (ringPlan), or through its group's queue
// (queue.go). The leg that answers is marked busy for huntLongestIdle
// until it ends.
func (e *Engine) dialAny(ctx context.Context, spec dialSpec) (*Call, error) {
	if spec.queue != nil {
		return e.dialQueued(ctx, spec)
	}
	if len(spec.plan) == 0 {
		out, err := e.dial(ctx, spec)
		if err == nil && spec.busyKey != "" {
			e.pbx.busy(spec.busyKey, out)
		}
		return out, err
	}
	return e.ringPlan(ctx, spec)
}

// ringPlan gives every leg of spec's plan the call's SRTP offer and
// progress callback (early media only where one leg rings at a time) and
// rings the plan.
func (e *Engine) ringPlan(ctx context.Context, spec dialSpec) (*Call, error) {
	for i := range spec.plan {
		for j := range spec.plan[i].legs {
			l := &spec.plan[i].legs[j]
			l.srtp, l.onProgress, l.onHeard = spec.srtp, spec.onProgress, spec.onHeard
			l.onEarly = nil // one caller cannot hear several early media
			if len(spec.plan[i].legs) == 1 {
				l.onEarly = spec.onEarly
			}
		}
	}
	return e.dialPlan(ctx, spec.plan)
}

// dialLeg places one leg of a plan. A leg out through a trunk (a missed
// call forwarded to a mobile number) follows the trunk's srtp setting
// rather than the caller's (a caller who requires SRTP is not carried in
// clear) and holds a call slot of the trunk while it lasts.
func (e *Engine) dialLeg(ctx context.Context, spec dialSpec) (*Call, error) {
	t := spec.trunk
	if t == nil {
		return e.dial(ctx, spec)
	}
	pol, why := offerPolicy(spec.srtpMode, spec.srtp)
	if why != "" {
		return nil, &DialError{Code: 488, Reason: why}
	}
	spec.srtp = pol
	if !t.acquire() {
		return nil, &DialError{Code: 503, Reason: "trunk " + t.cfg.TrunkID + " is at its concurrency limit"}
	}
	out, err := e.dial(ctx, spec)
	if err != nil {
		t.release()
		return nil, err
	}
	go func() { <-out.done; t.release() }()
	return out, nil
}

type legResult struct {
	i   int
	out *Call
	err error
}

// dialPlan rings the stages in turn and returns the first leg that
// answers. Without an answer the error is the best refusal (dialBest).
func (e *Engine) dialPlan(ctx context.Context, plan []ringStage) (*Call, error) {
	var refusals []error
	for _, st := range plan {
		if len(st.legs) == 0 {
			continue
		}
		out, errs, err := e.ringStage(ctx, st)
		if out != nil || err != nil {
			return out, err
		}
		refusals = append(refusals, errs...)
	}
	return nil, dialBest(refusals)
}

// ringStage rings the legs of st at once. It returns the winning leg, or
// the refusals of every leg, or an error when the caller went away.
func (e *Engine) ringStage(ctx context.Context, st ringStage) (*Call, []error, error) {
	n := len(st.legs)
	results := make(chan legResult, n)
	legs := make([]*forkLeg, n)
	stops := make([]context.CancelCauseFunc, n)
	for i := range st.legs {
		spec := st.legs[i]
		leg := newForkLeg()
		spec.leg = leg
		// The branch outlives the caller's context: losing branches are
		// cancelled here, with the Reason the caller's CANCEL would lack.
		lctx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
		legs[i], stops[i] = leg, stop
		go func() {
			out, err := e.dialLeg(lctx, spec)
			close(leg.done)
			results <- legResult{i: i, out: out, err: err}
		}()
	}
	var timeout <-chan time.Time
	if st.ringFor > 0 {
		t := time.NewTimer(st.ringFor)
		defer t.Stop()
		timeout = t.C
	}
	pending := n
	var errs []error
	// endRest ends what is still ringing: each stop cancels with sipgo's
	// plain CANCEL; answers that cross the CANCEL get a BYE.
	endRest := func(skip int, elsewhere bool) {
		for i := range legs {
			if i == skip {
				continue
			}
			if elsewhere {
				go e.cancelElsewhere(legs[i], stops[i])
			} else {
				stops[i](errors.New("ring time over"))
			}
		}
		left := pending
		go func() {
			for ; left > 0; left-- {
				r := <-results
				if r.out != nil {
					r.out.end(CauseNormal, true)
				}
				stops[r.i](nil)
			}
		}()
	}
	for pending > 0 {
		select {
		case r := <-results:
			pending--
			if r.out != nil {
				endRest(r.i, true)
				stops[r.i](nil)
				if k := st.legs[r.i].busyKey; k != "" {
					e.pbx.busy(k, r.out)
				}
				return r.out, nil, nil
			}
			stops[r.i](nil)
			errs = append(errs, r.err)
		case <-ctx.Done():
			endRest(-1, false)
			return nil, nil, ctx.Err()
		case <-timeout:
			endRest(-1, false)
			return nil, append(errs, &DialError{Code: 480, Reason: "no answer within the ring time"}), nil
		}
	}
	return nil, errs, nil
}

// cancelElsewhere sends the CANCEL of a losing branch with the Reason
// "Call completed elsewhere" once the branch rang (a branch that never
// rang is given up after cancelGiveUp), and lets dial collect the 487.
func (e *Engine) cancelElsewhere(leg *forkLeg, stop context.CancelCauseFunc) {
	giveUp := time.NewTimer(cancelGiveUp)
	defer giveUp.Stop()
	select {
	case <-leg.ringing:
	case <-leg.done:
		return
	case <-giveUp.C:
		stop(sipgo.WaitAnswerForceCancelErr)
		return
	}
	leg.mu.Lock()
	inv := leg.inv
	leg.mu.Unlock()
	if inv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := e.cli.Do(ctx, cancelRequest(inv, completedElsewhere)); err != nil {
			e.log.Debug("CANCEL not answered", "call", inv.CallID().Value(), "err", err)
		}
		cancel()
	}
	select {
	case <-leg.done:
	case <-giveUp.C:
		stop(sipgo.WaitAnswerForceCancelErr)
	}
}

// cancelRequest is the CANCEL of inv (RFC 3261 §9.1: its Request-URI,
// top Via, From, To, Call-ID and CSeq number) with a Reason header.
func cancelRequest(inv *sip.Request, reason string) *sip.Request {
	r := sip.NewRequest(sip.CANCEL, inv.Recipient)
	r.AppendHeader(sip.HeaderClone(inv.Via()))
	r.AppendHeader(sip.HeaderClone(inv.From()))
	r.AppendHeader(sip.HeaderClone(inv.To()))
	r.AppendHeader(sip.HeaderClone(inv.CallID()))
	r.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	r.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	sip.CopyHeaders("Route", inv, r)
	if reason != "" {
		r.AppendHeader(sip.NewHeader("Reason", reason))
	}
	r.SetTransport(inv.Transport())
	r.SetDestination(inv.Destination())
	r.SetSource(inv.Source())
	r.Laddr = inv.Laddr
	return r
}

// dialBest picks the response a forking proxy returns when no branch
// answered (RFC 3261 §16.7 step 6): a 6xx, else the lowest 4xx/5xx code
// with 486 Busy before the others, else 480.
func dialBest(errs []error) error {
	var best *DialError
	var other error
	for _, err := range errs {
		var de *DialError
		if !errors.As(err, &de) {
			other = err
			continue
		}
		switch {
		case best == nil:
			best = de
		case de.Code >= 600 && best.Code < 600:
			best = de
		case best.Code >= 600:
		case de.Code == 486 && best.Code != 486:
			best = de
		case best.Code != 486 && de.Code < best.Code && de.Code != 480:
			best = de
		}
	}
	if best != nil {
		return best
	}
	if other != nil {
		return other
	}
	return &DialError{Code: 480, Reason: "no answer"}
}
