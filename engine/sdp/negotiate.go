package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Codec names the gateway speaks (RFC 3551 static payload types 0 and 8).
const (
	PCMU = "PCMU"
	PCMA = "PCMA"
	// TelephoneEvent is the RFC 4733 payload format name.
	TelephoneEvent = "telephone-event"
)

// Static payload types (RFC 3551 table 4) and the dynamic type we offer for
// telephone-event.
const (
	PTPCMU           uint8 = 0
	PTPCMA           uint8 = 8
	PTTelephoneEvent uint8 = 101
)

// SRTPPolicy says whether a leg uses SRTP.
type SRTPPolicy uint8

// SRTP policies.
const (
	// SRTPOff offers RTP/AVP and declines RTP/SAVP.
	SRTPOff SRTPPolicy = iota
	// SRTPOptional offers RTP/AVP with a=crypto lines (best effort) and
	// accepts either profile.
	SRTPOptional
	// SRTPRequired offers RTP/SAVP and declines plain RTP.
	SRTPRequired
)

// Capabilities is what the local side can do for one leg.
type Capabilities struct {
	Addr netip.Addr // RTP address to advertise (c=)
	Port int        // RTP port (RTCP is Port+1)
	// Codecs allowed, in local preference order ("PCMA", "PCMU"); empty means both, PCMA first.
	Codecs []string
	// TelephoneEvent offers/accepts RFC 4733 events.
	TelephoneEvent bool
	SRTP           SRTPPolicy
	// Suites allowed for SRTP, preference order; empty means Suites.
	Suites []string
	// Direction of the local side; DirUnset means sendrecv. SendOnly or
	// Inactive puts the far end on hold (RFC 3264 §8.4).
	Direction Direction
	// Ptime to ask for, ms; 0 means 20.
	Ptime int
	// SessionID and Version for o=; zero picks one from the clock.
	SessionID, Version uint64
	Username           string
	// Keys are the SRTP keys this leg negotiated last, nil at first. A key
	// is changed only when the peer changes its own (RFC 4568 §7.1.4): Answer
	// keeps Keys.LocalKey while the offer's chosen a=crypto has the tag,
	// suite and key it had, and Offer reuses Keys.LocalKey for Keys.Suite.
	// A new key on every re-INVITE would leave the peer decrypting with the
	// old one after hold/resume or a session refresh.
	Keys *SRTPKeys
}

// SRTPKeys are the negotiated SDES keys of a leg.
type SRTPKeys struct {
	Tag       int // of the a=crypto line the answer chose
	Suite     string
	LocalKey  []byte // we encrypt with this (our a=crypto line)
	RemoteKey []byte // we decrypt with this (their a=crypto line)
}

// Negotiated is what a completed offer/answer exchange fixes for a leg: what
// the RTP session needs.
type Negotiated struct {
	Remote     netip.AddrPort // where to send RTP; port 0 while the far end holds the stream off
	RemoteRTCP netip.AddrPort
	Codec      string // PCMA or PCMU
	PT         uint8
	// EventPT is the telephone-event payload type; valid when Events.
	EventPT uint8
	Events  bool
	// RedPT is the RFC 2198 redundancy payload type the far end may send
	// events in (RFC 4733 §2.5.1.6 and §2.6); valid when Red.
	RedPT uint8
	Red   bool
	Ptime int // the far end's a=ptime, 0 when absent
	// Direction is ours: whether we send and receive.
	Direction Direction
	SRTP      *SRTPKeys // nil for plain RTP
}

// ErrNotAcceptable means no media stream of the offer or answer can be used;
// SIP answers 488 Not Acceptable Here. The error text says what was offered.
var ErrNotAcceptable = errors.New("sdp: not acceptable")

var sessionCounter atomic.Uint64

func (c *Capabilities) codecs() []string {
	if len(c.Codecs) == 0 {
		return []string{PCMA, PCMU}
	}
	return c.Codecs
}

func (c *Capabilities) suites() []string {
	if len(c.Suites) == 0 {
		return Suites
	}
	return c.Suites
}

func (c *Capabilities) validate() error {
	if !c.Addr.IsValid() {
		return errors.New("sdp: Capabilities.Addr is not set")
	}
	if c.Addr.IsUnspecified() {
		// c=0.0.0.0 reads as hold (RFC 3264 §8.4): the far end would never send.
		return fmt.Errorf("sdp: Capabilities.Addr %s is unspecified; advertise an address the far end can reach", c.Addr)
	}
	if c.Port <= 0 || c.Port > 65535 {
		return fmt.Errorf("sdp: Capabilities.Port %d is not 1-65535", c.Port)
	}
	for _, name := range c.codecs() {
		if name != PCMA && name != PCMU {
			return fmt.Errorf("sdp: Capabilities.Codecs: %q is not PCMA or PCMU", name)
		}
	}
	for _, s := range c.suites() {
		if KeyLen(s) == 0 {
			return fmt.Errorf("sdp: Capabilities.Suites: %q not supported", s)
		}
	}
	return nil
}

func staticPT(name string) uint8 {
	if name == PCMU {
		return PTPCMU
	}
	return PTPCMA
}

func (c *Capabilities) session() *Session {
	id, ver := c.SessionID, c.Version
	if id == 0 {
		id = uint64(time.Now().UnixNano()/1000) + sessionCounter.Add(1)
	}
	if ver == 0 {
		ver = id
	}
	user := c.Username
	if user == "" {
		user = "edgebridge"
	}
	return &Session{
		Origin: Origin{Username: user, SessionID: id, SessVersion: ver, Addr: c.Addr},
		Name:   "edgebridge",
		Conn:   c.Addr,
	}
}

func (c *Capabilities) ptime() int {
	if c.Ptime > 0 {
		return c.Ptime
	}
	return 20
}

func (c *Capabilities) direction() Direction {
	if c.Direction == DirUnset {
		return SendRecv
	}
	return c.Direction
}

// Offer builds an SDP offer with one audio stream. With SRTP it carries one
// a=crypto line per allowed suite, each with a fresh key; keep the offer to
// pass it to Negotiate with the answer.
func Offer(c Capabilities) (*Session, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	s := c.session()
	m := Media{Type: "audio", Port: c.Port, Proto: "RTP/AVP", Ptime: c.ptime(), Direction: c.direction()}
	for _, name := range c.codecs() {
		pt := staticPT(name)
		m.Formats = append(m.Formats, strconv.Itoa(int(pt)))
		m.RTPMaps = append(m.RTPMaps, RTPMap{PT: pt, Name: name, Rate: 8000})
	}
	if c.TelephoneEvent {
		m.Formats = append(m.Formats, strconv.Itoa(int(PTTelephoneEvent)))
		m.RTPMaps = append(m.RTPMaps, RTPMap{PT: PTTelephoneEvent, Name: TelephoneEvent, Rate: 8000})
		m.FMTP = map[uint8]string{PTTelephoneEvent: "0-16"}
	}
	if c.SRTP != SRTPOff {
		if c.SRTP == SRTPRequired {
			m.Proto = "RTP/SAVP"
		}
		for i, suite := range c.suites() {
			key, err := c.localKey(suite, nil)
			if err != nil {
				return nil, err
			}
			m.Crypto = append(m.Crypto, Crypto{Tag: i + 1, Suite: suite, Key: key})
		}
	}
	s.Media = []Media{m}
	return s, nil
}

// Answer answers an offer (RFC 3264 §6): it accepts the first audio stream
// it can use and declines every other stream with port 0. The codec is the
// offerer's most preferred one among c.Codecs; telephone-event is accepted
// with the offered payload type. When nothing is usable it returns
// ErrNotAcceptable with the reason, for a 488.
func Answer(offer *Session, c Capabilities) (*Session, Negotiated, error) {
	if err := c.validate(); err != nil {
		return nil, Negotiated{}, err
	}
	ans := c.session()
	var neg Negotiated
	accepted := false
	var why []string
	for i := range offer.Media {
		om := &offer.Media[i]
		am := Media{Type: om.Type, Port: 0, Proto: om.Proto, Formats: om.Formats}
		if len(am.Formats) == 0 {
			am.Formats = []string{"0"}
		}
		if !accepted {
			if n, m, reason := answerMedia(offer, om, &c); reason == "" {
				am, neg, accepted = m, n, true
			} else {
				why = append(why, fmt.Sprintf("m=%s #%d: %s", om.Type, i+1, reason))
			}
		}
		ans.Media = append(ans.Media, am)
	}
	if !accepted {
		if len(why) == 0 {
			why = []string{"no m= line"}
		}
		return nil, Negotiated{}, fmt.Errorf("%w: %s", ErrNotAcceptable, strings.Join(why, "; "))
	}
	return ans, neg, nil
}

// answerMedia accepts one offered stream or says why not.
func answerMedia(offer *Session, om *Media, c *Capabilities) (Negotiated, Media, string) {
	var neg Negotiated
	if om.Type != "audio" {
		return neg, Media{}, "only audio is supported"
	}
	if om.Port == 0 {
		return neg, Media{}, "stream already declined (port 0)"
	}
	savp := om.Proto == "RTP/SAVP"
	if !savp && om.Proto != "RTP/AVP" {
		return neg, Media{}, fmt.Sprintf("transport %s not supported (RTP/AVP or RTP/SAVP)", om.Proto)
	}
	if savp && c.SRTP == SRTPOff {
		return neg, Media{}, "SRTP (RTP/SAVP) offered but disabled here"
	}
	// Codec: the offerer's order among what we allow (RFC 3264 §6.1).
	codec, pt := "", uint8(0)
	var seen []string
	for _, f := range om.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			seen = append(seen, f)
			continue
		}
		r, ok := om.RTPMapFor(uint8(n))
		if !ok {
			seen = append(seen, "PT "+f)
			continue
		}
		if strings.EqualFold(r.Name, TelephoneEvent) {
			if r.Rate == 8000 && c.TelephoneEvent && !neg.Events {
				neg.Events, neg.EventPT = true, r.PT
			}
			continue
		}
		if strings.EqualFold(r.Name, "red") {
			if r.Rate == 8000 && !neg.Red {
				neg.Red, neg.RedPT = true, r.PT
			}
			continue
		}
		seen = append(seen, fmt.Sprintf("%s/%d", r.Name, r.Rate))
		name := strings.ToUpper(r.Name)
		if codec == "" && r.Rate == 8000 && (r.Channels <= 1) && slices.Contains(c.codecs(), name) {
			codec, pt = name, r.PT
		}
	}
	// Redundancy is accepted only as a carrier of our telephone events
	// (a=fmtp:<red> <ev>/<ev>...), never for audio.
	if neg.Red && !(neg.Events && redOfEvents(om.FMTP[neg.RedPT], neg.EventPT)) {
		neg.Red, neg.RedPT = false, 0
	}
	if codec == "" {
		return neg, Media{}, fmt.Sprintf("no common codec: offered %s, accepted %s",
			strings.Join(seen, ", "), strings.Join(c.codecs(), ", "))
	}
	// SRTP: first usable a=crypto in the offerer's order (RFC 4568 §7.1.1).
	var crypto *Crypto
	if c.SRTP != SRTPOff && len(om.Crypto) > 0 {
		var why []string
		for i := range om.Crypto {
			oc := &om.Crypto[i]
			if ok, reason := oc.usable(); !ok {
				why = append(why, fmt.Sprintf("tag %d: %s", oc.Tag, reason))
				continue
			}
			if !slices.Contains(c.suites(), oc.Suite) {
				why = append(why, fmt.Sprintf("tag %d: suite %s not allowed here", oc.Tag, oc.Suite))
				continue
			}
			crypto = oc
			break
		}
		if crypto == nil && savp {
			return neg, Media{}, "no usable a=crypto: " + strings.Join(why, "; ")
		}
	}
	if savp && crypto == nil {
		return neg, Media{}, "RTP/SAVP without a=crypto (only SDES keying is supported)"
	}
	if crypto == nil && c.SRTP == SRTPRequired {
		return neg, Media{}, "plain RTP offered but SRTP is required here"
	}
	addr := offer.Addr(om)
	if !addr.IsValid() {
		return neg, Media{}, "no c= connection address"
	}
	neg.Codec, neg.PT, neg.Ptime = codec, pt, om.Ptime
	neg.Remote = netip.AddrPortFrom(addr, uint16(om.Port))
	neg.RemoteRTCP = rtcpAddr(addr, om)
	// Our direction: the reverse of theirs, narrowed by what we want (hold).
	neg.Direction = intersect(offer.direction(om).Reverse(), c.direction())
	if addr.IsUnspecified() {
		// c=0.0.0.0 is the RFC 2543 hold (RFC 3264 §8.4): nothing to send to.
		neg.Direction = intersect(neg.Direction, RecvOnly)
	}
	am := Media{Type: "audio", Port: c.Port, Proto: om.Proto, Ptime: c.ptime(), Direction: neg.Direction}
	am.Formats = []string{strconv.Itoa(int(pt))}
	am.RTPMaps = []RTPMap{{PT: pt, Name: codec, Rate: 8000}}
	if neg.Events {
		am.Formats = append(am.Formats, strconv.Itoa(int(neg.EventPT)))
		am.RTPMaps = append(am.RTPMaps, RTPMap{PT: neg.EventPT, Name: TelephoneEvent, Rate: 8000})
		am.FMTP = map[uint8]string{neg.EventPT: "0-16"}
	}
	if neg.Red {
		am.Formats = append(am.Formats, strconv.Itoa(int(neg.RedPT)))
		am.RTPMaps = append(am.RTPMaps, RTPMap{PT: neg.RedPT, Name: "red", Rate: 8000})
		am.FMTP[neg.RedPT] = om.FMTP[neg.RedPT]
	}
	if crypto != nil {
		key, err := c.localKey(crypto.Suite, crypto)
		if err != nil {
			return neg, Media{}, err.Error()
		}
		am.Crypto = []Crypto{{Tag: crypto.Tag, Suite: crypto.Suite, Key: key}}
		neg.SRTP = &SRTPKeys{Tag: crypto.Tag, Suite: crypto.Suite, LocalKey: key, RemoteKey: crypto.Key}
	}
	return neg, am, ""
}

// localKey is our key for suite: the one of c.Keys while it still holds
// (for an answer, while the peer's chosen line, offered, is what it was),
// else a fresh one.
func (c *Capabilities) localKey(suite string, offered *Crypto) ([]byte, error) {
	k := c.Keys
	if k != nil && k.Suite == suite && len(k.LocalKey) == KeyLen(suite) &&
		(offered == nil || offered.Tag == k.Tag && bytes.Equal(offered.Key, k.RemoteKey)) {
		return k.LocalKey, nil
	}
	return NewKey(suite)
}

func rtcpAddr(addr netip.Addr, m *Media) netip.AddrPort {
	// rtcp-mux (RFC 5761) is never accepted here, so RTCP has its own port.
	switch {
	case m.RTCPPort > 0:
		return netip.AddrPortFrom(addr, uint16(m.RTCPPort))
	case m.Port > 0 && m.Port < 65535:
		return netip.AddrPortFrom(addr, uint16(m.Port+1))
	}
	return netip.AddrPort{}
}

// direction is a stream's direction attribute, or the session's when the
// stream has none (RFC 8866 §6.7), or sendrecv when neither has one
// (RFC 3264 §5.1).
func (s *Session) direction(m *Media) Direction {
	switch {
	case m.Direction != DirUnset:
		return m.Direction
	case s.Direction != DirUnset:
		return s.Direction
	}
	return SendRecv
}

// intersect narrows two directions to what both allow.
func intersect(a, b Direction) Direction {
	send := a.Sends() && b.Sends()
	recv := a.Receives() && b.Receives()
	switch {
	case send && recv:
		return SendRecv
	case send:
		return SendOnly
	case recv:
		return RecvOnly
	}
	return Inactive
}

// Negotiate completes an exchange we offered: it checks the answer against
// our offer and returns what the RTP session needs.
func Negotiate(offer, answer *Session) (Negotiated, error) {
	var neg Negotiated
	for i := range answer.Media {
		am := &answer.Media[i]
		if am.Port == 0 || am.Type != "audio" || i >= len(offer.Media) {
			continue
		}
		om := &offer.Media[i]
		if om.Port == 0 {
			continue
		}
		for _, f := range am.Formats {
			n, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			r, ok := am.RTPMapFor(uint8(n))
			if !ok {
				continue
			}
			name := strings.ToUpper(r.Name)
			switch {
			case strings.EqualFold(r.Name, TelephoneEvent):
				if r.Rate == 8000 && !neg.Events && hasFormat(om, TelephoneEvent) {
					neg.Events, neg.EventPT = true, r.PT
				}
			case neg.Codec == "" && r.Rate == 8000 && (name == PCMA || name == PCMU) && hasFormat(om, name):
				neg.Codec, neg.PT = name, r.PT
			}
		}
		if neg.Codec == "" {
			return Negotiated{}, fmt.Errorf("%w: answer m=audio #%d has no codec we offered (formats %s)",
				ErrNotAcceptable, i+1, strings.Join(am.Formats, " "))
		}
		if len(om.Crypto) > 0 && len(am.Crypto) > 0 {
			ac := am.Crypto[0]
			if ok, reason := ac.usable(); !ok {
				return Negotiated{}, fmt.Errorf("%w: answer a=crypto tag %d: %s", ErrNotAcceptable, ac.Tag, reason)
			}
			var mine *Crypto
			for j := range om.Crypto {
				if om.Crypto[j].Tag == ac.Tag && om.Crypto[j].Suite == ac.Suite {
					mine = &om.Crypto[j]
				}
			}
			if mine == nil {
				return Negotiated{}, fmt.Errorf("%w: answer a=crypto tag %d %s matches no offered line", ErrNotAcceptable, ac.Tag, ac.Suite)
			}
			neg.SRTP = &SRTPKeys{Tag: ac.Tag, Suite: ac.Suite, LocalKey: mine.Key, RemoteKey: ac.Key}
		} else if om.Proto == "RTP/SAVP" {
			return Negotiated{}, fmt.Errorf("%w: we offered RTP/SAVP and the answer has no a=crypto", ErrNotAcceptable)
		}
		addr := answer.Addr(am)
		if !addr.IsValid() {
			return Negotiated{}, fmt.Errorf("%w: answer m=audio #%d has no c= address", ErrNotAcceptable, i+1)
		}
		neg.Remote = netip.AddrPortFrom(addr, uint16(am.Port))
		neg.RemoteRTCP = rtcpAddr(addr, am)
		neg.Ptime = am.Ptime
		neg.Direction = intersect(offer.direction(om), answer.direction(am).Reverse())
		if addr.IsUnspecified() {
			neg.Direction = intersect(neg.Direction, RecvOnly)
		}
		return neg, nil
	}
	return Negotiated{}, fmt.Errorf("%w: the answer accepted no audio stream", ErrNotAcceptable)
}

func redOfEvents(fmtp string, ev uint8) bool {
	if fmtp == "" {
		return false
	}
	for _, f := range strings.Split(fmtp, "/") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 7)
		if err != nil || uint8(n) != ev {
			return false
		}
	}
	return true
}

func hasFormat(m *Media, name string) bool {
	for _, f := range m.Formats {
		n, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		if r, ok := m.RTPMapFor(uint8(n)); ok && strings.EqualFold(r.Name, name) {
			return true
		}
	}
	return false
}
