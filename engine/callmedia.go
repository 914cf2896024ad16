package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
)

// Session is the call's media: an RTP session that is an alarm Channel
// (ReadFrame, WriteFrame, Digits, SendDigit, Hangup). Nil before Answer on
// an inbound call, and for calls the engine bridges without touching media.
func (c *Call) Session() *media.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

func (e *Engine) mediaIP() netip.Addr {
	if a, err := netip.ParseAddr(e.host); err == nil {
		return a
	}
	return netip.MustParseAddr("127.0.0.1")
}

// newSession binds an RTP session for c. Its end (Hangup from the Channel
// side, or RTP timeout) ends the call with a BYE.
func (e *Engine) newSession(c *Call) (*media.Session, error) {
	timeout := c.opts.RTPTimeout
	if timeout == 0 {
		timeout = e.rtpTimeout
	}
	mode := media.Voice
	if c.opts.DataMode {
		mode = media.Data
	}
	cfg := media.SessionConfig{
		Pool:       e.ports,
		LocalIP:    e.mediaIP(),
		Mode:       mode,
		InBandDTMF: c.opts.InbandDetect,
		RTPTimeout: timeout,
		Logger:     slog.New(callLog{e.log.Handler(), c.ID}),
		OnEnd: func(reason error) {
			cause := CauseNormal
			if errors.Is(reason, media.ErrRTPTimeout) {
				cause = CauseRTPTimeout
			}
			// Not inline: the session may call OnEnd from its own goroutine,
			// and ending the call closes (and waits for) the session.
			go c.end(cause, true)
		},
	}
	if cp := e.captureFor(c); cp != nil { // capture.go; a nil *Capture must not become a Tap
		cfg.Tap = cp
	}
	return media.NewSession(cfg)
}

// callLog names the call in a session's log lines (an RTP timeout, an
// RTCP report that did not encode) when one is written: slog's With
// formats the attribute for each new session, 1.5 KB a B2BUA call, for
// lines that most calls never write.
type callLog struct {
	h  slog.Handler
	id string
}

func (c callLog) Enabled(ctx context.Context, l slog.Level) bool { return c.h.Enabled(ctx, l) }

func (c callLog) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(slog.String("call", c.id))
	return c.h.Handle(ctx, r)
}

func (c callLog) WithAttrs(as []slog.Attr) slog.Handler {
	return c.h.WithAttrs(append([]slog.Attr{slog.String("call", c.id)}, as...))
}

func (c callLog) WithGroup(name string) slog.Handler {
	return c.h.WithAttrs([]slog.Attr{slog.String("call", c.id)}).WithGroup(name)
}

func (e *Engine) caps(c *Call, sess *media.Session) sdp.Capabilities {
	cp := sdp.Capabilities{
		Addr:           e.mediaIP(),
		Port:           int(sess.LocalAddr().Port()),
		Codecs:         c.opts.Codecs,
		TelephoneEvent: c.opts.DTMF != "inaudio",
		SRTP:           acceptPolicy(c.srtpMode),
	}
	if c.local != nil {
		// RFC 3264 §8: same o= session id, version one up for a new answer.
		cp.SessionID = c.local.Origin.SessionID
		cp.Version = c.local.Origin.SessVersion + 1
	}
	c.mu.Lock()
	cp.Keys = c.neg.SRTP // our key stays while the peer keeps its own
	c.mu.Unlock()
	return cp
}

// Answer accepts an inbound call: it answers the SDP offer (PCMA, PCMU and
// telephone-event; anything else gets 488), starts the RTP session, sends
// 200 OK and waits for the ACK. After it returns Session is the Channel.
func (c *Call) Answer() error {
	if c.sdlg == nil {
		return errors.New("engine: Answer on an outbound leg")
	}
	if !c.final.CompareAndSwap(false, true) {
		return fmt.Errorf("engine: call already answered or refused (%s)", c.Cause())
	}
	c.provisionalDone()
	select {
	case <-c.done:
		return fmt.Errorf("engine: call already ended (%s)", c.Cause())
	default:
	}
	e := c.e
	if sess := c.Session(); sess != nil {
		// Early media answered the offer already (earlyMedia): the 200
		// repeats that answer.
		c.mu.Lock()
		body := c.local.Marshal()
		c.answered = time.Now()
		c.mu.Unlock()
		return c.sendOK(body)
	}
	sess, err := e.newSession(c)
	if err != nil {
		c.rejectNow(503, "Service Unavailable", "no RTP port: "+err.Error())
		return err
	}
	cp := e.caps(c, sess)
	var body []byte
	if c.offer != nil {
		ans, neg, err := sdp.Answer(c.offer, cp)
		if err != nil {
			sess.Close()
			res := e.newResponse(c.req, 488, "Not Acceptable Here", nil)
			res.AppendHeader(sip.NewHeader("Warning", `304 edgebridge "`+err.Error()+`"`))
			res.AppendHeader(reasonHeader(488, "media not acceptable"))
			_ = c.sdlg.WriteResponse(res)
			c.finish(CauseRejected, "488")
			return err
		}
		if err := sess.Apply(neg); err != nil {
			sess.Close()
			c.rejectNow(500, "Server Internal Error", err.Error())
			return err
		}
		c.local, c.neg, c.remote = ans, neg, c.offer
		if err := sess.Start(); err != nil {
			sess.Close()
			c.rejectNow(500, "Server Internal Error", err.Error())
			return err
		}
	} else {
		// No offer in the INVITE: ours goes in the 200, the answer in the ACK
		// (RFC 3261 §13.2.1); media starts in lateAnswer.
		off, err := sdp.Offer(cp)
		if err != nil {
			sess.Close()
			c.rejectNow(500, "Server Internal Error", err.Error())
			return err
		}
		c.local = off
	}
	body = c.local.Marshal()
	c.mu.Lock()
	c.sess = sess
	c.answered = time.Now()
	c.mu.Unlock()
	c.setupOver()
	return c.sendOK(body)
}

// sendOK sends the 200 OK with our SDP body and waits for the ACK.
func (c *Call) sendOK(body []byte) error {
	e := c.e
	res := e.newResponse(c.req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	for _, h := range c.timerHeaders() {
		res.AppendHeader(h)
	}
	e.recordCall(c, "")
	e.markAnswered(c.req)
	sent := time.Now()
	if err := c.sdlg.WriteResponse(res); err != nil && !c.awaitAck(res, sent, err) {
		// RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the dialog with BYE.
		c.end(CauseFailed, true)
		return fmt.Errorf("engine: 200 OK not acknowledged: %w", err)
	}
	c.superviseSession()
	e.stats.answered.Add(1)
	return nil
}

// lateAnswer applies the SDP answer an ACK carried.
func (c *Call) lateAnswer(body []byte) {
	ans, err := sdp.Parse(body)
	if err == nil {
		var neg sdp.Negotiated
		if neg, err = sdp.Negotiate(c.local, ans); err == nil {
			c.mu.Lock()
			c.neg, c.remote = neg, ans
			sess := c.sess
			c.mu.Unlock()
			if sess != nil {
				if err = sess.Apply(neg); err == nil {
					err = sess.Start()
				}
			}
		}
	}
	if err != nil {
		c.e.log.Warn("SDP answer in ACK unusable", "call", c.ID, "err", err)
		go c.end(CauseFailed, true)
	}
}

// onReInvite handles an INVITE inside a dialog: hold and resume (RFC 3264
// §8.4), a new address, or a session refresh (RFC 4028).
func (e *Engine) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := e.findDialog(req)
	if c == nil {
		e.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if c.sdlg != nil {
		if err := c.sdlg.ReadRequest(req, tx); err != nil {
			e.respond(tx, req, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"), reasonHeader(500, "CSeq out of order"))
			return
		}
	}
	sess := c.Session()
	direct := c.DirectMediaOn()
	if sess == nil && !direct {
		e.respond(tx, req, 491, "Request Pending")
		return
	}
	body := req.Body()
	var ans *sdp.Session
	if len(body) == 0 {
		ans = c.local // offer-less re-INVITE: our current SDP is the offer
	} else {
		offer, err := sdp.Parse(body)
		if err != nil {
			e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "SDP: "+err.Error()))
			return
		}
		var code int
		var why string
		if direct {
			// The media is the two far ends' own (bypass.go): the offer
			// is the other far end's to answer.
			ans, code, why = c.relayOffer(offer)
		} else {
			ans, code, why = c.answerReOffer(offer, sess)
		}
		if code != 0 {
			e.respond(tx, req, code, statusText(code), reasonHeader(code, why))
			return
		}
	}
	if exp, refresher, ok := e.sessionTimer(req, tx); !ok {
		return
	} else if exp > 0 {
		c.sessExp, c.refresher = exp, refresher
	}
	c.lastFrame.Store(time.Now().UnixNano())
	res := e.newResponse(req, 200, "OK", ans.Marshal())
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ct := e.contact(req.Transport())
	res.AppendHeader(&ct)
	for _, h := range c.timerHeaders() {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		e.log.Debug("re-INVITE 200 not sent", "err", err)
	}
}

// answerReOffer answers a far end's new offer with the leg's own session
// (hold, resume, a new address) and relays a change of direction to the
// other leg; or the status to refuse it with.
func (c *Call) answerReOffer(offer *sdp.Session, sess *media.Session) (*sdp.Session, int, string) {
	e := c.e
	a, neg, err := sdp.Answer(offer, e.caps(c, sess))
	if err != nil {
		return nil, 488, err.Error()
	}
	if err := sess.Apply(neg); err != nil {
		return nil, 500, err.Error()
	}
	c.mu.Lock()
	prev := c.neg.Direction
	c.neg, c.local, c.remote = neg, a, offer
	c.mu.Unlock()
	c.relayDirection(prev, neg.Direction)
	e.log.Info("call media updated", "call", c.ID, "direction", neg.Direction.String(), "remote", neg.Remote.String())
	return a, 0, ""
}
