package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
)

// Direct media (third party call control, RFC 3725): the gateway stays in
// the signalling of a bridged pair of legs and takes itself out of their
// media. The far ends' own SDP is known from the call's setup, so the flow
// re-INVITEs each leg with the other's SDP (RFC 3725 §4.1 "Flow I"
// shortened: no offer-less re-INVITE, no SDP in an ACK):
//
//	gateway → b: re-INVITE with a's SDP (one codec: the one a uses now)
//	b → gateway: 200 with b's SDP                    ACK
//	gateway → a: re-INVITE with b's answer
//	a → gateway: 200 with a's SDP (must be what b got) ACK
//
// Every UA takes a re-INVITE that moves the far end's address (the same
// thing a hold or a transfer does), where an offer-less re-INVITE with the
// answer in the ACK is often refused or mishandled (a SIPp scenario must
// script it, some ATAs answer 488). A refusal (488, 491, a timeout) of
// either re-INVITE leaves the call as it was: the leg already moved is
// re-INVITEd back to the gateway's media, and the call stays bridged.

// ErrStayInPath wraps why a pair of legs keeps its media through the
// gateway (DirectMedia refused or could not do it).
var ErrStayInPath = errors.New("media stays through the gateway")

// reinviteWait bounds one re-INVITE: Timer B (64*T1). A shorter wait would
// leave a late 200 without its ACK, and the far end would end the call.
const reinviteWait = 32 * time.Second

// DirectMedia re-INVITEs the answered legs a (the caller's) and b, which
// the caller bridges (media.Bridge), so that
// their media goes straight between their far ends, then releases the
// legs' RTP sessions: Session is nil afterwards, nothing of the call's
// audio passes the gateway any more, and there is no RTP timeout. The legs
// stay in their dialogs: a BYE, a session refresh or a re-INVITE still
// comes through the gateway (a far end's new offer is relayed to the other
// leg). It refuses (an error wrapping ErrStayInPath, the call unchanged)
// legs with SRTP, with different codecs or telephone-event on the two
// sides (the gateway converts between them), on hold, or whose RTP comes
// from another address than their SDP gave, or (a's) whose SDP address is
// not where its INVITE came from (NAT: the other far end could not reach
// it); and when either far end refuses its re-INVITE.
func DirectMedia(a, b *Call) error {
	if err := directCheck(a, b); err != nil {
		return fmt.Errorf("%w: %v", ErrStayInPath, err)
	}
	a.reMu.Lock()
	defer a.reMu.Unlock()
	b.reMu.Lock()
	defer b.reMu.Unlock()
	a.mu.Lock()
	aRemote, aLocal, aNeg := a.remote, a.local, a.neg
	a.mu.Unlock()
	b.mu.Lock()
	bLocal := b.local
	b.mu.Unlock()

	am := audio(aRemote)
	offerB := withMedia(bLocal, aRemote, am, keepFormats(am, aNeg))
	ansB, err := b.exchange(offerB)
	if err != nil {
		return fmt.Errorf("%w: %s refused the far end's media: %v", ErrStayInPath, b.ID, err)
	}
	bm := audio(ansB)
	if bm == nil || bm.Port == 0 || !slices.Contains(bm.Formats, strconv.Itoa(int(aNeg.PT))) {
		b.moveBack(a.e, "its answer has no "+aNeg.Codec)
		return fmt.Errorf("%w: %s answered without %s", ErrStayInPath, b.ID, aNeg.Codec)
	}
	offerA := withMedia(aLocal, ansB, bm, bm.Formats)
	ansA, err := a.exchange(offerA)
	if err != nil {
		b.moveBack(a.e, a.ID+" refused")
		return fmt.Errorf("%w: %s refused the far end's media: %v", ErrStayInPath, a.ID, err)
	}
	if m := audio(ansA); m == nil || m.Port != am.Port || ansA.Addr(m) != aRemote.Addr(am) ||
		!slices.Contains(m.Formats, strconv.Itoa(int(aNeg.PT))) {
		// a moved or changed codec while b was told where a was: both back.
		b.moveBack(a.e, a.ID+" answered with other media")
		a.moveBack(a.e, "it answered with other media")
		return fmt.Errorf("%w: %s answered with another address or codec than it had", ErrStayInPath, a.ID)
	}
	a.setPeer(b) // a far end's later offer goes on to the other (relayOffer)
	a.release()
	b.release()
	a.e.log.Info("call media direct", "call", a.ID, "peer", b.ID)
	return nil
}

// directCheck says why a and b cannot have direct media, nil if they can.
func directCheck(a, b *Call) error {
	if p := a.peerLeg(); p != nil && p != b {
		return fmt.Errorf("%s is bridged to another leg", a.ID)
	}
	if p := b.peerLeg(); p != nil && p != a {
		return fmt.Errorf("%s is bridged to another leg", b.ID)
	}
	var legs [2]sdp.Negotiated
	for i, c := range []*Call{a, b} {
		c.mu.Lock()
		sess, remote, local, neg, answered := c.sess, c.remote, c.local, c.neg, c.answered
		c.mu.Unlock()
		switch {
		case answered.IsZero() || sess == nil:
			return fmt.Errorf("%s has no media of its own to give up", c.ID)
		case remote == nil || local == nil || audio(remote) == nil:
			return fmt.Errorf("%s: the far end's SDP is not known", c.ID)
		case neg.SRTP != nil:
			return fmt.Errorf("%s uses SRTP (its keys are the gateway's)", c.ID)
		case neg.Direction != sdp.SendRecv && neg.Direction != sdp.DirUnset:
			return fmt.Errorf("%s is on hold", c.ID)
		}
		if from := sess.RemoteSource(); from.IsValid() && from != neg.Remote {
			return fmt.Errorf("%s: RTP comes from %s, not %s as its SDP says (NAT)", c.ID, from, neg.Remote)
		}
		// Before any RTP came, the caller's SIP source tells: an SDP address
		// that is not where its INVITE came from is NAT (a private address
		// the other far end cannot reach) or a proxy; either way, stay.
		if sig, err := netip.ParseAddrPort(c.Source); c.Inbound && err == nil && sig.Addr().Unmap() != neg.Remote.Addr().Unmap() {
			return fmt.Errorf("%s: its SDP gives %s, its SIP comes from %s (NAT or a proxy)", c.ID, neg.Remote.Addr(), sig.Addr())
		}
		legs[i] = neg
	}
	if legs[0].Codec != legs[1].Codec {
		return fmt.Errorf("codec %s on %s, %s on %s: the gateway converts", legs[0].Codec, a.ID, legs[1].Codec, b.ID)
	}
	if legs[0].Events != legs[1].Events {
		return errors.New("telephone-event on one leg only: the gateway converts key presses")
	}
	return nil
}

// DirectMediaOn reports whether the leg's media goes straight to the other
// leg's far end (DirectMedia), not through the gateway.
func (c *Call) DirectMediaOn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.direct
}

// Reanchor brings a leg whose media DirectMedia sent elsewhere back to the
// gateway: a new RTP session and a re-INVITE offering it. After it returns
// nil, Session is that session (the gateway can play to the far end again,
// e.g. a clear-down once the other leg has hung up). The other leg, if
// still up, keeps sending to this far end until it is re-anchored too.
func (c *Call) Reanchor() error {
	c.reMu.Lock()
	defer c.reMu.Unlock()
	if !c.DirectMediaOn() {
		return nil
	}
	e := c.e
	sess, err := e.newSession(c)
	if err != nil {
		return err
	}
	n, err := c.offerSession(sess)
	if err != nil {
		sess.Close()
		return fmt.Errorf("engine: %s not re-anchored: %w", c.ID, err)
	}
	c.mu.Lock()
	c.sess, c.neg, c.direct = sess, n, false
	c.mu.Unlock()
	e.log.Info("call media through the gateway again", "call", c.ID)
	return nil
}

// offerSession offers sess to the leg's far end in a re-INVITE (reMu held)
// and starts it on the answer.
func (c *Call) offerSession(sess *media.Session) (sdp.Negotiated, error) {
	cp := c.e.caps(c, sess)
	cp.SRTP = sdp.SRTPOff // DirectMedia is for plain RTP only
	offer, err := sdp.Offer(cp)
	if err != nil {
		return sdp.Negotiated{}, err
	}
	ans, err := c.exchange(offer)
	if err != nil {
		return sdp.Negotiated{}, err
	}
	n, err := sdp.Negotiate(offer, ans)
	if err != nil {
		return sdp.Negotiated{}, err
	}
	if err := sess.Apply(n); err != nil {
		return sdp.Negotiated{}, err
	}
	return n, sess.Start()
}

// exchange sends offer in a re-INVITE on the leg (reMu held) and returns
// the far end's answer, ACKed; c.local and c.remote follow. An error
// leaves the leg's session as it was (RFC 3261 §14.1).
func (c *Call) exchange(offer *sdp.Session) (*sdp.Session, error) {
	res, err := c.reinvite(offer)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.local = offer // our o= version is used up either way
	c.mu.Unlock()
	ans, err := sdp.Parse(res.Body())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.remote = ans
	c.mu.Unlock()
	return ans, nil
}

// reinvite sends offer in a re-INVITE on the leg (reMu held) and ACKs
// its 2xx; an error for any other final answer or none within
// reinviteWait.
func (c *Call) reinvite(offer *sdp.Session) (*sip.Response, error) {
	ctx, cancel := context.WithTimeout(c.ctx, reinviteWait)
	defer cancel()
	res, err := c.inDialog(ctx, sip.INVITE, "application/sdp", offer.Marshal())
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	c.ackInDialog()
	return res, nil
}

// moveBack re-INVITEs a leg that took another far end's media (exchange)
// back to its own session, which is still open; why is logged. reMu held.
func (c *Call) moveBack(e *Engine, why string) {
	if err := c.reofferLocked(sdp.SendRecv); err != nil {
		e.log.Warn("call media not moved back to the gateway", "call", c.ID, "why", why, "err", err)
	}
}

// release closes the leg's RTP session without ending the call: its far
// end now sends to the other leg's far end.
func (c *Call) release() {
	c.mu.Lock()
	sess := c.sess
	c.sess, c.direct = nil, true
	c.mu.Unlock()
	if sess != nil {
		st := sess.Stats()
		c.e.stats.addRTP(st)
		c.mu.Lock()
		c.stats = st // the call record's, unless the leg is re-anchored
		c.mu.Unlock()
		sess.Close() // not Hangup: OnEnd would end the call
	}
}

// relayOffer answers a re-INVITE with SDP on a leg with direct media: the
// offer goes on to the other leg (under its own o= line) and that far
// end's answer comes back as ours. A refresh (the far end's o= version
// unchanged) is answered with our SDP as it is. It returns the answer, or
// the status to refuse the re-INVITE with (the session stays as it was).
func (c *Call) relayOffer(offer *sdp.Session) (*sdp.Session, int, string) {
	c.mu.Lock()
	remote, local := c.remote, c.local
	c.mu.Unlock()
	if remote != nil && remote.Origin == offer.Origin {
		return local, 0, ""
	}
	peer := c.peerLeg()
	om := audio(offer)
	if peer == nil || om == nil {
		return nil, 488, "no other leg to relay the offer to"
	}
	peer.reMu.Lock()
	defer peer.reMu.Unlock()
	peer.mu.Lock()
	pLocal := peer.local
	peer.mu.Unlock()
	ans, err := peer.exchange(withMedia(pLocal, offer, om, om.Formats))
	if err != nil {
		return nil, 488, "the other leg refused the offer: " + err.Error()
	}
	am := audio(ans)
	if am == nil {
		return nil, 488, "the other leg answered without audio"
	}
	mine := withMedia(local, ans, am, am.Formats)
	c.mu.Lock()
	c.remote, c.local = offer, mine
	c.mu.Unlock()
	return mine, 0, ""
}

// audio is the first audio stream of s that is not declined, nil if none.
func audio(s *sdp.Session) *sdp.Media {
	if s == nil {
		return nil
	}
	for i := range s.Media {
		if s.Media[i].Type == "audio" && s.Media[i].Port > 0 {
			return &s.Media[i]
		}
	}
	return nil
}

// keepFormats is the formats of m the leg negotiated: its codec and, when
// it has them, its telephone-event.
func keepFormats(m *sdp.Media, n sdp.Negotiated) []string {
	keep := []string{strconv.Itoa(int(n.PT))}
	if n.Events {
		keep = append(keep, strconv.Itoa(int(n.EventPT)))
	}
	return slices.DeleteFunc(slices.Clone(m.Formats), func(f string) bool { return !slices.Contains(keep, f) })
}

// withMedia is our next SDP for a leg whose last one was base: base's o=
// line (version one up, RFC 3264 §8) and streams, its first live audio
// stream replaced by fm of the other far end's from, with only the given
// formats, at from's address. Other streams keep their place (an offer
// must keep the m= lines of the last one).
func withMedia(base, from *sdp.Session, fm *sdp.Media, formats []string) *sdp.Session {
	out := &sdp.Session{Origin: base.Origin, Name: base.Name}
	out.Origin.SessVersion++
	m := sdp.Media{
		Type: fm.Type, Port: fm.Port, Proto: fm.Proto,
		Formats:   slices.Clone(formats),
		Conn:      from.Addr(fm),
		Ptime:     fm.Ptime,
		RTCPPort:  fm.RTCPPort,
		RTCPMux:   fm.RTCPMux,
		Direction: fm.Direction,
		Attrs:     slices.Clone(fm.Attrs),
	}
	if m.Direction == sdp.DirUnset {
		m.Direction = from.Direction
	}
	for _, r := range fm.RTPMaps {
		if slices.Contains(formats, strconv.Itoa(int(r.PT))) {
			m.RTPMaps = append(m.RTPMaps, r)
			if p, ok := fm.FMTP[r.PT]; ok {
				if m.FMTP == nil {
					m.FMTP = map[uint8]string{}
				}
				m.FMTP[r.PT] = p
			}
		}
	}
	out.Conn = m.Conn
	placed := false
	for _, bm := range base.Media {
		if !placed && bm.Type == "audio" && bm.Port > 0 {
			out.Media = append(out.Media, m)
			placed = true
			continue
		}
		bm.Conn = base.Addr(&bm)
		out.Media = append(out.Media, bm)
	}
	if !placed {
		out.Media = append(out.Media, m)
	}
	return out
}
