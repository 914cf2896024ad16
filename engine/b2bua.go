package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/store"
)

// The gateway is a B2BUA with anchored media: each leg has its own RTP
// session and media.Bridge copies audio and DTMF between them, transcoding
// A-law and µ-law when the legs differ (localCodec/trunksideCodec). This is
// also what forceRtpRelay and forceNatRewrites ask for, and lets alarm
// calls and in-call commands sit in the media path.

// bridgeToTrunk sends an inbound call out through trunk t to dest.
func (e *Engine) bridgeToTrunk(in *Call, t *trunk, dest string) {
	if !t.acquire() {
		in.reject(503, "Service Unavailable", "trunk "+t.cfg.TrunkID+" is at its concurrency limit")
		return
	}
	defer t.release()
	spec := dialSpec{domain: in.Domain, name: in.CallerName, opts: in.opts}
	e.trunkSpec(&spec, t, dest, in.Caller)
	switch c := t.cfg.LocalCodec; {
	case !t.cfg.Transcode && len(spec.opts.Codecs) > 0:
		in.opts.Codecs = spec.opts.Codecs // one codec end to end
	case c == sdp.PCMA || c == sdp.PCMU:
		in.opts.Codecs = []string{c}
	}
	e.b2bua(in, spec)
}

// bridgeToDevice rings the device registered as the called user.
func (e *Engine) bridgeToDevice(in *Call, bs []store.Binding) {
	spec := dialSpec{domain: in.Domain, from: in.Caller, name: in.CallerName, opts: in.opts}
	if err := e.deviceSpec(&spec, bs); err != nil {
		in.reject(500, "Server Internal Error", err.Error())
		return
	}
	if in.asserted {
		// RFC 3325: the identity we authenticated, inside our trust domain.
		pai := sip.FromHeader{DisplayName: in.CallerName, Address: sip.Uri{Scheme: "sip", User: in.Caller, Host: spec.fromHost}}
		spec.pai = pai.Value()
	}
	spec.busyKey = busyKey(in.Domain, deviceOf(bs[0]))
	if e.deviceAtLimit(in.Domain, spec.busyKey) { // limits.go
		in.reject(503, "Service Unavailable", "device "+deviceOf(bs[0])+" has its "+LimitDeviceSessions+" calls in progress")
		return
	}
	if len(bs) > 1 {
		legs, err := e.deviceLegs(spec, bs) // fork.go: every registration rings
		if err != nil {
			in.reject(500, "Server Internal Error", err.Error())
			return
		}
		spec.plan = []ringStage{{legs: legs}}
	}
	e.b2bua(in, spec)
}

// b2bua places the outbound leg and answers the inbound one when it
// answers, as a PBX does: ringing and early media (180/183, with the
// callee's audio when it sends SDP) reach the caller only once the callee
// sent them, media is bridged from the first of early media or answer until
// either side hangs up, and hold and key presses are relayed (onReInvite,
// onInfo). A refusal is passed back with its status and a Reason header
// (RFC 3326). A call the gateway cannot carry (media the caller's leg does
// not accept, SRTP the callee's leg cannot give) is refused before the
// callee is rung.
func (e *Engine) b2bua(in *Call, spec dialSpec) {
	if code, why := e.checkOffer(in); code != 0 {
		in.reject(code, statusText(code), why)
		return
	}
	pol, why := offerPolicy(spec.srtpMode, callerSRTP(in))
	if why != "" {
		in.reject(488, "Not Acceptable Here", why)
		return
	}
	spec.srtp = pol

	ctx, cancel := context.WithCancel(in.ctx)
	defer cancel()
	bridged := make(chan struct{}) // closed when a bridge early media started returns
	var once sync.Once
	started := false
	// first says whether out's media is the first to be bridged: early
	// media or the answer, whichever comes first, bridges the call.
	first := func(out *Call) bool {
		ok := false
		once.Do(func() {
			started, ok = true, true
			in.setPeer(out)
		})
		return ok
	}
	runBridge := func(out *Call) {
		_ = media.Bridge(ctx, in.Session(), out.Session(),
			media.DigitsTo(in.Session(), in.infoDigits()), media.DigitsTo(out.Session(), out.infoDigits()))
	}
	// A queued caller (queue.go) hears our ringback until the answer: the
	// members' progress and early media are not relayed to it.
	var queued atomic.Bool
	stopTone := func() {}
	spec.onQueued = func() {
		queued.Store(true)
		stopTone = in.queueRingback()
	}
	spec.onHeard = in.setupOver
	spec.onProgress = func(code int, reason, _ string) {
		if !queued.Load() {
			_ = in.progress(code, reason)
		}
	}
	spec.onEarly = func(out *Call, code int, reason string) {
		if !queued.Load() && in.earlyMedia(code, reason) == nil && first(out) {
			// The handler is still dialling: the bridge needs a goroutine.
			go func() {
				defer close(bridged)
				runBridge(out)
			}()
		}
	}
	out, err := e.dialAny(in.ctx, spec)
	stopTone()
	if err != nil {
		cancel()
		if started {
			<-bridged
		}
		var de *DialError
		switch {
		case in.ctx.Err() != nil:
			// CANCEL from the caller: sipgo has answered 487 already.
			in.finish(CauseCancelled, "487")
		case errors.As(err, &de):
			code, reason := de.Code, "far end: "+de.Reason
			if code < 300 || code > 699 {
				code = 502
			}
			if code == 488 && pol == sdp.SRTPRequired {
				reason += " (the call requires SRTP, RTP/SAVP)"
			}
			in.reject(code, statusText(code), reason)
		case errors.Is(err, sdp.ErrNotAcceptable):
			in.reject(488, statusText(488), "far end: "+err.Error())
		default:
			in.reject(503, "Service Unavailable", err.Error())
		}
		return
	}
	in.setPeer(out) // before the answer: a re-INVITE may follow the ACK at once
	if err := in.Answer(); err != nil {
		out.end(CauseFailed, true)
		cancel()
		if started {
			<-bridged
		}
		return
	}
	// The bridge ends with either leg: by their ends' hooks rather than a
	// goroutine waiting for both (one per bridged call at a flood's peak,
	// each a goroutine descriptor the runtime keeps for good).
	in.onEnd(cancel)
	out.onEnd(cancel)
	if first(out) {
		// Bridged from the answer: on this goroutine, which would
		// otherwise only wait for a bridge goroutine.
		runBridge(out)
	} else {
		<-bridged
	}
	cancel()
	// Whichever leg ended first has its cause; the other gets a BYE.
	in.end(CauseNormal, true)
	out.end(CauseNormal, true)
}

// checkOffer answers the caller's offer on paper, so a call whose media the
// caller's leg cannot take is refused before the callee rings (0: fine).
func (e *Engine) checkOffer(in *Call) (int, string) {
	if in.offer == nil {
		return 0, "" // late offer: our offer goes in the 200
	}
	cp := sdp.Capabilities{Addr: e.mediaIP(), Port: 9, Codecs: in.opts.Codecs,
		TelephoneEvent: in.opts.DTMF != "inaudio", SRTP: acceptPolicy(in.srtpMode)}
	if _, _, err := sdp.Answer(in.offer, cp); err != nil {
		return 488, "media not acceptable: " + err.Error()
	}
	return 0, ""
}

// acceptPolicy is how a leg whose device or trunk has srtp mode answers an
// offer: off declines SRTP, mandatory requires it, else either is taken.
func acceptPolicy(mode string) sdp.SRTPPolicy {
	switch mode {
	case SRTPOff:
		return sdp.SRTPOff
	case SRTPMandatory:
		return sdp.SRTPRequired
	}
	return sdp.SRTPOptional
}

// callerSRTP is what the caller asked for: RTP/SAVP requires SRTP, a=crypto
// on RTP/AVP offers it (best effort), else none; SRTPOff as well when its
// leg declines SRTP.
func callerSRTP(in *Call) sdp.SRTPPolicy {
	if in.offer == nil || acceptPolicy(in.srtpMode) == sdp.SRTPOff {
		return sdp.SRTPOff
	}
	for _, m := range in.offer.Media {
		if m.Type != "audio" || m.Port == 0 {
			continue
		}
		switch {
		case m.Proto == "RTP/SAVP":
			return sdp.SRTPRequired
		case len(m.Crypto) > 0:
			return sdp.SRTPOptional
		}
		return sdp.SRTPOff
	}
	return sdp.SRTPOff
}

// offerPolicy is what the B2BUA offers the callee whose device or trunk has
// srtp mode, given what the caller asked for: the callee's own setting when
// it has one, else the caller's choice. A caller who requires SRTP is never
// carried in clear: why says so when the callee's setting forbids SRTP.
func offerPolicy(mode string, caller sdp.SRTPPolicy) (sdp.SRTPPolicy, string) {
	switch mode {
	case SRTPOff:
		if caller == sdp.SRTPRequired {
			return sdp.SRTPOff, "the caller requires SRTP (RTP/SAVP) and the callee's srtp setting is off"
		}
		return sdp.SRTPOff, ""
	case SRTPMandatory:
		return sdp.SRTPRequired, ""
	case SRTPOptional:
		return max(caller, sdp.SRTPOptional), ""
	}
	return caller, ""
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 415:
		return "Unsupported Media Type"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 483:
		return "Too Many Hops"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	switch {
	case code >= 200 && code < 300:
		return "OK"
	case code >= 600:
		return "Global Failure"
	case code >= 500:
		return "Server Error"
	}
	return "Request Failed"
}
