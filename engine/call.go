package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
)

// Cause says why a call ended; it becomes the call record's result and the
// Reason header (RFC 3326) of the BYE the engine sends.
type Cause string

// Causes.
const (
	CauseNormal     Cause = "normal"      // a side hung up
	CauseRemoteBye  Cause = "remote-bye"  // the far end sent BYE
	CauseCancelled  Cause = "cancelled"   // CANCEL before answer
	CauseRTPTimeout Cause = "rtp-timeout" // no RTP for rtpTimeout
	CauseSessionExp Cause = "session-expired"
	CauseShutdown   Cause = "shutdown"
	CauseRejected   Cause = "rejected"
	CauseFailed     Cause = "failed"
)

// Call is one call leg through the gateway. Inbound calls reach a
// CallHandler unanswered; outbound ones come back from Dial answered.
type Call struct {
	e *Engine

	ID         string // Call-ID
	Domain     string
	Caller     string // From user (after rewriteAnumber on trunk legs)
	CallerName string // From display name
	Called     string // Request-URI user
	Source     string // host:port of the peer
	Transport  string
	Route      string  // name of the route that took the call
	Device     *Device // the authenticated device, nil for trusted or trunk sources
	Trunk      string  // trunk id for calls from or to a trunk
	Inbound    bool
	Start      time.Time
	// asserted: the caller is who it says, by digest or as a device in a
	// trusted network, so its identity may go on as P-Asserted-Identity.
	asserted bool
	// srtpMode is the srtp setting of the device or trunk that called
	// (inbound legs): how its offer is answered (acceptPolicy).
	srtpMode string
	// reMu orders the re-INVITEs and INFOs the engine sends on this leg.
	reMu sync.Mutex
	// infoDTMF: the far end sent key presses as SIP INFO.
	infoDTMF atomic.Bool
	// alarmOnly: the caller may reach alarm services only (principal.alarmOnly).
	alarmOnly bool

	req  *sip.Request // the INVITE (ours for outbound legs)
	tx   sip.ServerTransaction
	sdlg *sipgo.DialogServerSession
	cdlg *sipgo.DialogClientSession
	key  string // dialog id in the call table

	offer  *sdp.Session // the far end's offer (inbound) or ours (outbound)
	local  *sdp.Session // our current SDP
	remote *sdp.Session // the far end's current SDP (its offer or answer)
	direct bool         // the far end's media goes to the other leg's (bypass.go)
	neg    sdp.Negotiated
	sdpVer atomic.Uint64
	opts   MediaOptions

	mu        sync.Mutex
	sess      *media.Session
	peer      *Call // the other leg when bridged
	answered  time.Time
	ended     bool
	cause     Cause
	done      chan struct{}
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stats     media.Stats  // of the session, taken when the call ends
	final     atomic.Bool  // a final response to the INVITE is sent or being sent
	resp      sync.Mutex   // one response to the INVITE written at a time (provisional)
	inSetup   atomic.Bool  // counted by the load shedder until settled (overload.go)
	lastFrame atomic.Int64 // unix nanos of the last refresh (re-INVITE/UPDATE), for RFC 4028
	sessExp   time.Duration
	refresher string   // "uac" or "uas": who refreshes the session (RFC 4028 §7.1)
	atEnd     []func() // run once when the call ends (onEnd)
}

// MediaOptions tune a call's media for its route.
type MediaOptions struct {
	DTMF string // "2833" (default) or "inaudio": whether telephone-event is offered
	// InbandDetect runs the in-band DTMF detector on received audio and
	// delivers its keys on Digits (alarm routes with toneSettings "inaudio").
	InbandDetect bool
	RTPTimeout   time.Duration // 0 = the engine default
	DataMode     bool          // alarm data: jitter buffer tuned for tones
	Codecs       []string      // allowed, preference order; empty = PCMA, PCMU
}

// Context ends when the call ends.
func (c *Call) Context() context.Context { return c.ctx }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Request is the INVITE that set up the call (read only).
func (c *Call) Request() *sip.Request { return c.req }

// Negotiated is the media the offer/answer exchange fixed.
func (c *Call) Negotiated() sdp.Negotiated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.neg
}

// setRoute names the route that takes an inbound call. Under mu: a CANCEL
// may end the call (finish, recordCall) while it is being routed.
func (c *Call) setRoute(name string) {
	c.mu.Lock()
	c.Route = name
	c.mu.Unlock()
}

// routeName is Route read under mu, for the goroutines that may end a call
// while it is being routed.
func (c *Call) routeName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Route
}

// Cause is why the call ended ("" while it is up).
func (c *Call) Cause() Cause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// Answered is when the call was answered (zero if not).
func (c *Call) Answered() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// callTable holds live calls by dialog id.
type callTable struct {
	mu    sync.Mutex
	m     map[string]*Call
	wg    sync.WaitGroup
	count atomic.Int64
}

func newCallTable() *callTable { return &callTable{m: map[string]*Call{}} }

func (t *callTable) add(c *Call) {
	t.mu.Lock()
	t.m[c.key] = c
	t.mu.Unlock()
	t.count.Add(1)
	t.wg.Add(1)
}

func (t *callTable) remove(c *Call) {
	t.mu.Lock()
	_, ok := t.m[c.key]
	delete(t.m, c.key)
	t.mu.Unlock()
	if ok {
		t.count.Add(-1)
		t.wg.Done()
	}
}

func (t *callTable) get(key string) *Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key]
}

func (t *callTable) all() []*Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*Call, 0, len(t.m))
	for _, c := range t.m {
		out = append(out, c)
	}
	return out
}

func (t *callTable) hangupAll(cause Cause) {
	var wg sync.WaitGroup
	for _, c := range t.all() {
		wg.Add(1)
		go func() { defer wg.Done(); c.end(cause, true) }()
	}
	wg.Wait()
}

func (t *callTable) wait() {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

// Calls is the number of calls up now.
func (e *Engine) Calls() int { return int(e.calls.count.Load()) }

// onInvite takes a new INVITE, or a re-INVITE inside a dialog.
func (e *Engine) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, ok := to.Params.Get("tag"); ok && tag != "" {
			e.onReInvite(req, tx)
			return
		}
	}
	if e.answeredCopy(req) {
		tx.Terminate() // absorbed, as its transaction would have (retrans.go)
		return
	}
	e.stats.invites.Add(1)
	if !e.admitInvite(req, tx) {
		return
	}
	inSetup := true // until a Call carries it
	defer func() {
		if inSetup {
			e.shed.leave()
		}
	}()
	if req.Contact() == nil {
		e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "INVITE without Contact"))
		return
	}
	// RFC 3261 §8.2.2.3: refuse extensions we do not support.
	if h := req.GetHeader("Require"); h != nil {
		for _, opt := range strings.Split(h.Value(), ",") {
			if o := strings.TrimSpace(opt); o != "" && o != "timer" {
				e.respond(tx, req, 420, "Bad Extension", sip.NewHeader("Unsupported", o))
				return
			}
		}
	}
	domain := e.domainOf(req)
	e.trace.noteDomain(req.CallID().Value(), domain)
	caller, callerName := "", ""
	if f := req.From(); f != nil {
		caller, callerName = f.Address.User, f.DisplayName
	}
	called := req.Recipient.User
	if called == "" && req.To() != nil {
		called = req.To().Address.User
	}

	// A call from a trunk's sourceNetworks is the trunk's; anything else is
	// a device (digest, deviceid or trusted network).
	var p principal
	trunk := e.trunks.fromSource(domain, req.Source())
	if trunk == nil {
		var ok bool
		if p, ok = e.authenticate(req, tx, domain, caller, false); !ok {
			return
		}
		if p.dev != nil && p.dev.AuthType == "userid" && p.dev.Authorized != nil && p.dev.Authorized.Invite != "" {
			if !e.inviteAllowed(p.dev.Authorized.Invite, called) {
				e.respond(tx, req, 403, "Forbidden", reasonHeader(403, "destination not authorized for this device"))
				return
			}
		}
	}

	releaseLimits, ok := e.admitLimits(req, tx, domain, p.dev) // limits.go
	if !ok {
		return
	}
	defer func() {
		if releaseLimits != nil { // refused before a Call held them
			releaseLimits()
		}
	}()

	// RFC 4028 §8.1: refuse a session interval below our minimum.
	sessExp, refresher, ok := e.sessionTimer(req, tx)
	if !ok {
		return
	}

	var offer *sdp.Session
	if body := req.Body(); len(body) > 0 {
		s, err := sdp.Parse(body)
		if err != nil {
			e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "SDP: "+err.Error()))
			return
		}
		offer = s
	}

	dua := &sipgo.DialogUA{Client: e.cli, ContactHDR: e.contact(req.Transport()), RewriteContact: true}
	dlg, err := dua.ReadInvite(req, tx)
	if err != nil {
		e.respond(tx, req, 400, "Bad Request", reasonHeader(400, err.Error()))
		return
	}
	c := &Call{
		e: e, ID: req.CallID().Value(), Domain: domain,
		Caller: caller, CallerName: callerName, Called: called,
		Source: req.Source(), Transport: req.Transport(),
		Device: p.dev, Inbound: true, Start: time.Now(),
		asserted:  p.dev != nil && (p.trusted || p.dev.AuthType != "deviceid"),
		alarmOnly: p.alarmOnly(),
		req:       dlg.InviteRequest, tx: tx, sdlg: dlg, key: dlg.ID, offer: offer,
		done: make(chan struct{}), sessExp: sessExp, refresher: refresher,
	}
	c.inSetup.Store(true)
	inSetup = false
	c.onEnd(releaseLimits)
	releaseLimits = nil
	c.ctx, c.cancel = context.WithCancelCause(e.ctx)
	if p.dev != nil {
		c.srtpMode = p.dev.SRTP
	}
	if trunk != nil {
		c.srtpMode = trunk.cfg.SRTP
		c.Trunk = trunk.cfg.TrunkID
		// PBX trunk API (didNumbers, concurrency): a trunk delivers only its DID numbers, and no more calls
		// at once than its concurrency allows.
		if !trunk.ownsDID(called) {
			e.calls.add(c)
			c.reject(404, "Not Found", called+" is not a DID number of trunk "+trunk.cfg.TrunkID)
			return
		}
		if !trunk.acquire() {
			e.calls.add(c)
			c.reject(503, "Service Unavailable", "trunk "+trunk.cfg.TrunkID+" is at its concurrency limit")
			return
		}
		c.onEnd(trunk.release)
	}
	// The dialog ends on CANCEL (sipgo answers 200 and 487) or BYE. Run
	// when it ends rather than by a goroutine waiting for it: one per call
	// in setup, and the runtime keeps every goroutine descriptor a flood's
	// peak made. Unregistered when the call ends: a dialog whose end sipgo
	// never marks (our BYE unanswered, a final response racing the
	// transaction's end) would otherwise keep the call reachable for good.
	stop := context.AfterFunc(dlg.Context(), func() {
		if c.Answered().IsZero() {
			c.end(CauseCancelled, false)
		}
	})
	c.onEnd(func() { stop() })
	e.calls.add(c)
	e.recordCall(c, "")
	_ = c.provisional(100, "Trying", nil)

	e.route(c)
}

// inviteAllowed says whether a userid device whose Authorized.Invite is
// expr may call called. Devices are read per request; each pattern is
// compiled once (an invalid one, kept as nil, allows nothing).
func (e *Engine) inviteAllowed(expr, called string) bool {
	t := &e.invitePats
	t.mu.Lock()
	re, ok := t.m[expr]
	t.mu.Unlock()
	if !ok {
		re, _ = CompileMatch(expr)
		t.mu.Lock()
		if t.m == nil || len(t.m) >= 1024 {
			t.m = map[string]*regexp.Regexp{} // old policies: start over
		}
		t.m[expr] = re
		t.mu.Unlock()
	}
	return re != nil && re.MatchString(called)
}

// route tries, in order, the local services, the trunks and the devices
// registered here (provisioning schema: service destinations, then trunks, then SIP
// devices), and answers 404 when nothing takes the call.
func (e *Engine) route(c *Call) {
	if e.rts != nil {
		for _, r := range e.rts.Routes(c.Domain) {
			if r.Match == nil || r.Handler == nil || !r.Match.MatchString(c.Called) {
				continue
			}
			if c.alarmOnly && callKind(r.Name) != "alarm" {
				c.reject(403, "Forbidden", alarmOnlyText)
				return
			}
			c.setRoute(r.Name)
			c.opts = MediaOptions{DTMF: r.DTMF, InbandDetect: r.DTMF == "inaudio", RTPTimeout: r.RTPTimeout, DataMode: r.DataMode}
			e.runHandler(c, r.Handler)
			return
		}
	}
	if c.alarmOnly {
		c.reject(403, "Forbidden", alarmOnlyText)
		return
	}
	if e.bridgeToExtension(c) { // group.go: users and groups before trunks
		return
	}
	if c.Trunk == "" { // a trunk's call is not sent back out to a trunk
		if t, dest, err := e.trunks.outbound(c.Domain, c.Called); t != nil {
			c.setRoute("trunk/" + t.cfg.TrunkID)
			e.bridgeToTrunk(c, t, dest)
			return
		} else if err != nil {
			code, reason := 503, "Service Unavailable"
			var re *routeError
			if errors.As(err, &re) {
				code, reason = re.code, re.reason
			}
			c.reject(code, reason, err.Error())
			return
		}
	}
	if bs := e.reg.lookup(c.Domain, c.Called); len(bs) > 0 {
		c.setRoute("device/" + c.Called)
		e.bridgeToDevice(c, bs)
		return
	}
	c.reject(404, "Not Found", "no route for "+c.Called)
}

// alarmOnlyText is the Reason a deviceid device outside a trusted network
// gets for a call to anything but an alarm service (principal.alarmOnly).
const alarmOnlyText = "a deviceid device may call alarm services only; trunks and devices need digest or a trusted network"

func (e *Engine) runHandler(c *Call, h CallHandler) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("call handler panicked", "call", c.ID, "route", c.routeName(), "panic", r)
			c.end(CauseFailed, true)
		}
	}()
	h.HandleCall(c.ctx, c)
	if c.Answered().IsZero() {
		c.reject(480, "Temporarily Unavailable", "service did not answer")
		return
	}
	c.end(CauseNormal, true)
}

// Ring sends 180 Ringing on an inbound call that is not yet answered.
func (c *Call) Ring() error {
	if c.sdlg == nil {
		return errors.New("engine: Ring on an outbound leg")
	}
	return c.provisional(180, "Ringing", nil)
}

// provisional writes a provisional response to the INVITE unless a final
// one is sent or being sent. sipgo's server dialog takes one response at a
// time (each sets its InviteResponse): the forked legs relay their 180s
// from goroutines of their own while the call is answered, refused or
// cancelled from others.
func (c *Call) provisional(code int, reason string, body []byte, headers ...sip.Header) error {
	c.resp.Lock()
	defer c.resp.Unlock()
	if c.final.Load() {
		return nil
	}
	return c.sdlg.Respond(code, reason, body, headers...)
}

// provisionalDone waits for a provisional response being written; the
// caller holds the final gate (c.final), so none is written after it. The
// final response is written outside c.resp: sipgo waits in it for the ACK.
func (c *Call) provisionalDone() {
	c.resp.Lock()
	c.resp.Unlock()
}

// Reject refuses an inbound call that is not answered yet with code (4xx-6xx)
// and a Reason header carrying text.
func (c *Call) Reject(code int, reason, text string) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("engine: reject code %d is not a final error", code)
	}
	c.reject(code, reason, text)
	return nil
}

func (c *Call) reject(code int, reason, text string) {
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return
	}
	if c.sdlg != nil && c.Answered().IsZero() && c.final.CompareAndSwap(false, true) {
		c.provisionalDone()
		res := c.e.newResponse(c.req, code, reason, nil)
		if text != "" {
			res.AppendHeader(reasonHeader(code, text))
		}
		if code == 503 {
			res.AppendHeader(sip.NewHeader("Retry-After", "30"))
		}
		c.setupOver()
		_ = c.sdlg.WriteResponse(res)
		c.e.log.Info("call rejected", "call", c.ID, "called", c.Called, "code", code, "reason", text)
	}
	c.finish(CauseRejected, strconv.Itoa(code))
}

// rejectNow sends a final error response once the caller holds the final
// gate (Answer failing half way).
func (c *Call) rejectNow(code int, reason, text string) {
	res := c.e.newResponse(c.req, code, reason, nil)
	res.AppendHeader(reasonHeader(code, text))
	_ = c.sdlg.WriteResponse(res)
	c.finish(CauseRejected, strconv.Itoa(code))
}

// Hangup ends the call: BYE when answered, otherwise 480 (inbound) or
// CANCEL (outbound). Safe to call more than once.
func (c *Call) Hangup() error {
	c.end(CauseNormal, true)
	return nil
}

// end tears the call down once; sendBye says whether the far end must be
// told (false when it told us).
func (c *Call) end(cause Cause, sendBye bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	answered := !c.answered.IsZero()
	c.mu.Unlock()
	if sendBye {
		// serve must stop within 2 s of SIGTERM (README): shutdown BYEs
		// wait at most 1 s for their 200.
		wait := 5 * time.Second
		if cause == CauseShutdown {
			wait = time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		switch {
		case answered && c.sdlg != nil:
			bye := sip.NewRequest(sip.BYE, c.req.Contact().Address)
			bye.SetTransport(c.req.Transport())
			bye.AppendHeader(causeReason(cause))
			_ = c.sdlg.WriteBye(ctx, bye)
		case answered && c.cdlg != nil:
			_ = c.cdlg.Bye(ctx)
		case !answered && c.sdlg != nil && c.final.CompareAndSwap(false, true):
			c.provisionalDone()
			code, text := 480, "Temporarily Unavailable"
			if cause == CauseShutdown {
				code, text = 503, "Service Unavailable"
			}
			res := c.e.newResponse(c.req, code, text, nil)
			res.AppendHeader(reasonHeader(code, string(cause)))
			_ = c.sdlg.WriteResponse(res)
		}
		cancel()
	}
	c.finish(cause, "")
}

func causeReason(c Cause) sip.Header {
	switch c {
	case CauseRTPTimeout:
		return sip.NewHeader("Reason", `SIP;cause=408;text="RTP timeout"`)
	case CauseSessionExp:
		return sip.NewHeader("Reason", `SIP;cause=408;text="session expired"`)
	case CauseShutdown:
		return sip.NewHeader("Reason", `SIP;cause=503;text="gateway shutting down"`)
	}
	return sip.NewHeader("Reason", `SIP;cause=200;text="call completed"`)
}

// finish releases the call's resources and writes its record.
func (c *Call) finish(cause Cause, result string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.cause = cause
	sess := c.sess
	atEnd := c.atEnd
	c.atEnd = nil
	c.mu.Unlock()
	for _, f := range atEnd {
		f() // limits and idle time (limits.go, group.go), before anyone sees the call gone
	}
	c.setupOver()
	if sess != nil {
		c.stats = sess.Stats()
		c.e.stats.addRTP(c.stats)
		sess.Close()
	}
	if c.sdlg != nil {
		c.sdlg.Close()
	}
	if c.cdlg != nil {
		c.cdlg.Close()
	}
	c.cancel(errors.New(string(cause)))
	close(c.done)
	if result == "" {
		result = string(cause)
		if !c.Answered().IsZero() {
			result = "answered"
		}
	}
	c.e.recordCall(c, result)
	c.e.calls.remove(c)
	c.e.trace.forgetCall(c.ID)
	// Debug: every call has its record in the store; at hundreds of calls a
	// second a log line each is a load of its own.
	c.e.log.Debug("call ended", "call", c.ID, "route", c.routeName(), "cause", string(cause))
}

// onAck confirms an answered inbound call (RFC 3261 §13.3.1.4).
func (e *Engine) onAck(req *sip.Request, tx sip.ServerTransaction) {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return
	}
	if c := e.calls.get(id); c != nil && c.sdlg != nil {
		if err := c.sdlg.ReadAck(req, tx); err != nil {
			e.log.Debug("ACK not matched", "call", c.ID, "err", err)
		}
		if body := req.Body(); len(body) > 0 && c.offer == nil {
			c.lateAnswer(body)
		}
	}
}

// findDialog finds the call an in-dialog request belongs to: ours as UAS,
// or an outbound leg where we are the UAC.
func (e *Engine) findDialog(req *sip.Request) *Call {
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		if c := e.calls.get(id); c != nil {
			return c
		}
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		if c := e.calls.get(id); c != nil {
			return c
		}
	}
	return nil
}

// onBye ends a call at the far end's request (RFC 3261 §15.1.2).
func (e *Engine) onBye(req *sip.Request, tx sip.ServerTransaction) {
	// Answered, the BYE's transaction ends at once instead of keeping the
	// BYE and its response for Timer J; a copy finds the BYE in the
	// answered table and gets its 200 again (retrans.go).
	defer tx.Terminate()
	c := e.findDialog(req)
	if c == nil {
		if e.answeredCopy(req) {
			e.respond(tx, req, 200, "OK")
			return
		}
		e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	e.markAnswered(req)
	if c.sdlg != nil {
		// ReadBye answers 200 and moves the dialog to Ended, which also
		// stops a 200 OK still waiting for its ACK (a BYE can overtake it).
		if err := c.sdlg.ReadBye(req, tx); err != nil {
			e.respond(tx, req, 500, "Server Internal Error", reasonHeader(500, err.Error()))
			return
		}
	} else {
		e.respond(tx, req, 200, "OK")
	}
	c.end(CauseRemoteBye, false)
}

// onCancel sees only CANCELs that matched no INVITE transaction: sipgo
// answers the matching ones itself (200, then 487 to the INVITE).
func (e *Engine) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

// onInfo takes in-dialog INFO with a 200. A key press in it
// (application/dtmf-relay or application/dtmf) goes on to the other leg of
// a bridged call, as RFC 4733 when that leg has telephone-event.
func (e *Engine) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := e.findDialog(req)
	if c == nil {
		e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	key, ms, ok := parseInfoDTMF(ct, req.Body())
	e.respond(tx, req, 200, "OK")
	if !ok {
		return
	}
	c.infoDTMF.Store(true)
	if peer := c.peerLeg(); peer != nil {
		if send := peer.infoDigits(); send != nil {
			send(key, ms)
		} else if s := peer.Session(); s != nil {
			_ = s.SendDigit(key, ms) // RFC 4733
		}
	}
}

// onUpdate refreshes a session timer (RFC 4028 §9 allows UPDATE) without SDP.
func (e *Engine) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := e.findDialog(req)
	if c == nil {
		e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if len(req.Body()) > 0 {
		e.respond(tx, req, 488, "Not Acceptable Here", reasonHeader(488, "UPDATE with SDP is not supported"))
		return
	}
	c.lastFrame.Store(time.Now().UnixNano())
	res := e.newResponse(req, 200, "OK", nil)
	if c.sessExp > 0 {
		res.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(c.sessExp/time.Second), c.refresher)))
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
	_ = tx.Respond(res)
}

// MessageHandler takes an out-of-dialog MESSAGE (SCAIP, BS 8521-2) and
// returns the status to answer.
type MessageHandler func(ctx context.Context, domain, from, contentType string, body []byte) int

// WithMessageHandler sets who takes MESSAGE requests (default: 415 for
// everything, as nothing here reads them).
func WithMessageHandler(h MessageHandler) Option { return func(e *Engine) { e.msgHandler = h } }

func (e *Engine) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	domain := e.domainOf(req)
	from := ""
	if f := req.From(); f != nil {
		from = f.Address.User
	}
	// The in-memory check first: most MESSAGEs are no awaited answer and
	// need not read the trusted networks twice (authenticate reads them).
	answer := e.awaitedAnswer(req) && !e.trusted(domain, req.Source()) // message.go
	if !answer {
		if _, ok := e.authenticate(req, tx, domain, from, false); !ok {
			return
		}
	}
	if e.msgHandler == nil {
		e.respond(tx, req, 415, "Unsupported Media Type")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	ctx, answered := e.messageContext(req, answer) // message.go: MessageReplyURI, MessageIsAnswer
	code := e.msgHandler(ctx, domain, from, ct, req.Body())
	e.respond(tx, req, code, statusText(code))
	answered()
}

// contact is the Contact the engine puts in dialogs it creates.
func (e *Engine) contact(transport string) sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: "edgebridge", Host: e.host, Port: e.port}
	if t := strings.ToLower(transport); t == "tcp" {
		u.UriParams = sip.HeaderParams{{K: "transport", V: "tcp"}}
	} else if t == "tls" {
		u.Port = e.tlsPort
		u.UriParams = sip.HeaderParams{{K: "transport", V: "tls"}}
	}
	return sip.ContactHeader{Address: u}
}
