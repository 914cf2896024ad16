package engine

import (
	"context"
	"errors"

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
	if err := deviceSpec(&spec, bs); err != nil {
		in.reject(500, "Server Internal Error", err.Error())
		return
	}
	if in.asserted {
		// RFC 3325: the identity we authenticated, inside our trust domain.
		pai := sip.FromHeader{DisplayName: in.CallerName, Address: sip.Uri{Scheme: "sip", User: in.Caller, Host: spec.fromHost}}
		spec.pai = pai.Value()
	}
	e.b2bua(in, spec)
}

// b2bua places the outbound leg, answers the inbound one when it answers,
// and bridges them until either side hangs up. A refusal is passed back
// with its status and a Reason header (RFC 3326).
func (e *Engine) b2bua(in *Call, spec dialSpec) {
	_ = in.Ring()
	out, err := e.dial(in.ctx, spec)
	if err != nil {
		var de *DialError
		switch {
		case in.ctx.Err() != nil:
			// CANCEL from the caller: sipgo has answered 487 already.
			in.finish(CauseCancelled, "487")
		case errors.As(err, &de):
			code, reason := de.Code, de.Reason
			if code < 300 || code > 699 {
				code, reason = 502, "Bad Gateway"
			}
			in.reject(code, statusText(code), "far end: "+reason)
		default:
			in.reject(503, "Service Unavailable", err.Error())
		}
		return
	}
	in.peer, out.peer = out, in
	if err := in.Answer(); err != nil {
		out.end(CauseFailed, true)
		return
	}
	ctx, cancel := context.WithCancel(in.ctx)
	go func() {
		select {
		case <-out.done:
		case <-in.done:
		}
		cancel()
	}()
	_ = media.Bridge(ctx, in.Session(), out.Session())
	cancel()
	// Whichever leg ended first has its cause; the other gets a BYE.
	in.end(CauseNormal, true)
	out.end(CauseNormal, true)
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
