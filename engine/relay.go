package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/sdp"
)

// What the B2BUA relays between the legs of a bridged call besides media:
// ringing and early media, hold and resume, key presses sent as SIP INFO.

func (c *Call) setPeer(out *Call) {
	c.mu.Lock()
	c.peer = out
	c.mu.Unlock()
	out.mu.Lock()
	out.peer = c
	out.mu.Unlock()
	if c.Domain == out.Domain {
		c.e.captures.link(c.Domain, c.ID, out.ID) // capture.go
	}
}

// peerLeg is the other leg of a bridged call, or nil.
func (c *Call) peerLeg() *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer
}

// progress relays a provisional response of the callee (180, 183 without
// SDP) to the caller, while the call is not answered.
func (c *Call) progress(code int, reason string) error {
	if c.sdlg == nil || c.final.Load() {
		return nil
	}
	return c.provisional(code, reason, nil)
}

// earlyMedia answers the caller's offer in a provisional response (code,
// reason: the callee's 180 or 183) and starts the leg's session, so the
// callee's early media reaches the caller; Answer later sends the same SDP
// in the 200 (RFC 3261 §13.2.1). A call without an offer cannot have early
// media: the response goes on without SDP.
func (c *Call) earlyMedia(code int, reason string) error {
	if c.sdlg == nil || c.final.Load() {
		return fmt.Errorf("engine: early media on a leg that is answered or outbound")
	}
	if c.offer == nil || c.Session() != nil {
		_ = c.progress(code, reason)
		return fmt.Errorf("engine: no offer to answer with early media")
	}
	e := c.e
	sess, err := e.newSession(c)
	if err != nil {
		return err
	}
	ans, neg, err := sdp.Answer(c.offer, e.caps(c, sess))
	if err == nil {
		if err = sess.Apply(neg); err == nil {
			err = sess.Start()
		}
	}
	if err != nil {
		sess.Close()
		_ = c.progress(code, reason)
		return err
	}
	c.mu.Lock()
	c.local, c.neg, c.sess, c.remote = ans, neg, sess, c.offer
	c.mu.Unlock()
	return c.provisional(code, reason, ans.Marshal(), sip.NewHeader("Content-Type", "application/sdp"))
}

// relayDirection puts the other leg of a bridged call in the direction the
// far end of c just chose (hold, resume: RFC 3264 §8.4): what c's far end
// does, we do toward the other.
func (c *Call) relayDirection(prev, now sdp.Direction) {
	if now == prev {
		return
	}
	peer := c.peerLeg()
	if peer == nil {
		return
	}
	go func() {
		if err := peer.reoffer(now.Reverse()); err != nil {
			c.e.log.Warn("hold not relayed", "call", c.ID, "to", peer.ID, "err", err)
		}
	}()
}

// reoffer sends a re-INVITE offering the leg's media (codec, events, SRTP
// profile and key unchanged) in direction dir, and applies the answer.
func (c *Call) reoffer(dir sdp.Direction) error {
	c.reMu.Lock()
	defer c.reMu.Unlock()
	return c.reofferLocked(dir)
}

// reofferLocked is reoffer with reMu held.
func (c *Call) reofferLocked(dir sdp.Direction) error {
	sess := c.Session()
	if sess == nil || c.Answered().IsZero() {
		return fmt.Errorf("engine: leg not answered")
	}
	e := c.e
	cp := e.caps(c, sess)
	cp.Direction = dir
	c.mu.Lock()
	neg, local := c.neg, c.local
	c.mu.Unlock()
	if neg.Codec != "" {
		cp.Codecs = []string{neg.Codec}
	}
	cp.TelephoneEvent = neg.Events
	switch {
	case neg.SRTP == nil:
		cp.SRTP = sdp.SRTPOff
	case local != nil && len(local.Media) > 0 && local.Media[0].Proto == "RTP/SAVP":
		cp.SRTP, cp.Suites = sdp.SRTPRequired, []string{neg.SRTP.Suite}
	default:
		cp.SRTP, cp.Suites = sdp.SRTPOptional, []string{neg.SRTP.Suite}
	}
	offer, err := sdp.Offer(cp)
	if err != nil {
		return err
	}
	res, err := c.reinvite(offer)
	if err != nil {
		return err
	}
	ans, err := sdp.Parse(res.Body())
	if err != nil {
		return err
	}
	n, err := sdp.Negotiate(offer, ans)
	if err != nil {
		return err
	}
	if err := sess.Apply(n); err != nil {
		return err
	}
	c.mu.Lock()
	c.local, c.remote, c.neg = offer, ans, n
	c.mu.Unlock()
	e.log.Info("call media updated", "call", c.ID, "direction", n.Direction.String(), "relayed", true)
	return nil
}

// remoteTarget is where in-dialog requests of the leg go: the far end's
// Contact.
func (c *Call) remoteTarget() (sip.Uri, bool) {
	switch {
	case c.sdlg != nil:
		if ct := c.req.Contact(); ct != nil {
			return ct.Address, true
		}
	case c.cdlg != nil && c.cdlg.InviteResponse != nil:
		if ct := c.cdlg.InviteResponse.Contact(); ct != nil {
			return ct.Address, true
		}
	}
	return sip.Uri{}, false
}

// inDialog sends a request inside the leg's dialog and waits for its final
// response.
func (c *Call) inDialog(ctx context.Context, method sip.RequestMethod, ctype string, body []byte) (*sip.Response, error) {
	to, ok := c.remoteTarget()
	if !ok {
		return nil, fmt.Errorf("engine: no dialog to send %s in", method)
	}
	req := sip.NewRequest(method, to)
	if ctype != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	req.SetBody(body)
	if c.sdlg != nil {
		return c.sdlg.Do(ctx, req)
	}
	return c.cdlg.Do(ctx, req)
}

// ackInDialog acknowledges the 2xx of the leg's last re-INVITE.
func (c *Call) ackInDialog() {
	to, ok := c.remoteTarget()
	if !ok {
		return
	}
	ack := sip.NewRequest(sip.ACK, to)
	if c.sdlg != nil {
		_ = c.sdlg.WriteRequest(ack)
		return
	}
	_ = c.cdlg.WriteRequest(ack)
}

// infoDigits is where a Bridge hands the key presses for this leg when its
// far end has no telephone-event: SIP INFO (application/dtmf-relay) once the
// far end has sent key presses that way itself, sent in order off the media
// path; else in-band, as before. Nil when the leg has telephone-event.
func (c *Call) infoDigits() func(key byte, durationMs int) {
	if c.Negotiated().Events {
		return nil
	}
	return func(key byte, durationMs int) {
		if !c.infoDTMF.Load() {
			if s := c.Session(); s != nil {
				_ = s.SendDigit(key, durationMs)
			}
			return
		}
		go func() {
			c.reMu.Lock()
			defer c.reMu.Unlock()
			ctx, cancel := context.WithTimeout(c.ctx, 8*time.Second)
			defer cancel()
			body := fmt.Sprintf("Signal=%c\r\nDuration=%d\r\n", key, durationMs)
			if res, err := c.inDialog(ctx, sip.INFO, "application/dtmf-relay", []byte(body)); err != nil || !res.IsSuccess() {
				c.e.log.Debug("INFO key press not taken", "call", c.ID, "key", string(key), "err", err)
			}
		}()
	}
}

// parseInfoDTMF reads a key press from an INFO body: application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5"). Keys are 0-9, *,
// #, A-D; a missing or odd duration is 100 ms, a long one at most 5 s.
func parseInfoDTMF(ctype string, body []byte) (byte, int, bool) {
	mt, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(ctype)), ";")
	var sig string
	ms := 100
	switch strings.TrimSpace(mt) {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				sig = v
			case "duration":
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					ms = min(n, 5000)
				}
			}
		}
	case "application/dtmf":
		sig = strings.TrimSpace(string(body))
	default:
		return 0, 0, false
	}
	switch sig {
	case "10":
		sig = "*"
	case "11":
		sig = "#"
	}
	if len(sig) != 1 {
		return 0, 0, false
	}
	k := sig[0]
	if k >= 'a' && k <= 'd' {
		k -= 'a' - 'A'
	}
	if (k >= '0' && k <= '9') || k == '*' || k == '#' || (k >= 'A' && k <= 'D') {
		return k, ms, true
	}
	return 0, 0, false
}
