package engine

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// A call's RTP capture: off by default (privacy), on for the domain when its
// notificationsettings document sets callCaptureRtpSeconds (1-60, a gateway
// extension of the provisioning API). Each call leg then keeps the first
// that many seconds of its RTP socket's traffic in memory, in a buffer made
// once when its media starts, which the call's pcap export merges with the
// SIP log. Captures are kept in memory only (lost on restart), within
// CaptureBudget bytes for all of them: a new capture drops the oldest
// finished captures (the call ended, or its seconds are over) until it
// fits, and a call gets none when captures still filling take the budget.
const (
	// CaptureBudget is the memory all RTP captures together may hold.
	CaptureBudget = 16 << 20
	// CaptureMaxSeconds is the longest capture callCaptureRtpSeconds may ask.
	CaptureMaxSeconds = 60
	// captureBytesPerSecond sizes a capture's buffer: G.711 at 20 ms in both
	// directions (2 × 50 packets of 172 bytes, with the capture's record
	// header of 46) and room for RFC 4733 events and RTCP.
	captureBytesPerSecond = 24000
	// ResNotificationSettings is the domain document that holds the setting.
	ResNotificationSettings = "notificationsettings"
)

// WithCaptureBudget sets the memory all RTP captures may hold (tests; the
// default is CaptureBudget).
func WithCaptureBudget(n int) Option { return func(e *Engine) { e.captures.budget = n } }

type captureKey struct{ domain, callID string }

type captureEntry struct {
	key  captureKey
	cap  *pcap.Capture
	live bool
	peer string // Call-ID of the other leg when bridged
}

// captures keeps the RTP captures of calls, oldest first.
type captures struct {
	mu     sync.Mutex
	budget int // 0 means CaptureBudget
	used   int
	list   []*captureEntry
}

// start makes the capture of a call leg if its domain asks for one and the
// budget allows; nil otherwise. A leg asking again (a second media session
// of the same call) gets the capture it has.
func (cs *captures) start(domain, callID string, seconds int, now time.Time) *pcap.Capture {
	if seconds <= 0 {
		return nil
	}
	k := captureKey{domain, callID}
	size := min(seconds, CaptureMaxSeconds) * captureBytesPerSecond
	cs.mu.Lock()
	defer cs.mu.Unlock()
	budget := cs.budget
	if budget == 0 {
		budget = CaptureBudget
	}
	for _, ce := range cs.list {
		if ce.key == k {
			ce.live = true
			return ce.cap
		}
	}
	if size > budget {
		return nil
	}
	for i := 0; i < len(cs.list) && cs.used+size > budget; {
		if cs.list[i].live && !cs.list[i].cap.Done(now) {
			i++
			continue
		}
		cs.used -= cs.list[i].cap.Size()
		cs.list = append(cs.list[:i], cs.list[i+1:]...)
	}
	if cs.used+size > budget {
		return nil
	}
	c := pcap.NewCapture(time.Duration(seconds)*time.Second, size)
	cs.used += c.Size()
	cs.list = append(cs.list, &captureEntry{key: k, cap: c, live: true})
	return c
}

// ended marks a call's capture as one that may be dropped for a newer one.
func (cs *captures) ended(domain, callID string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		if ce.key == (captureKey{domain, callID}) {
			ce.live = false
		}
	}
}

// link notes that two legs of the domain are bridged, so that each leg's
// pcap holds the other's SIP and RTP too.
func (cs *captures) link(domain, a, b string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		switch ce.key {
		case captureKey{domain, a}:
			ce.peer = b
		case captureKey{domain, b}:
			ce.peer = a
		}
	}
}

func (cs *captures) peerOf(domain, callID string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		if ce.key == (captureKey{domain, callID}) {
			return ce.peer
		}
	}
	return ""
}

func (cs *captures) get(domain, callID string) *pcap.Capture {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		if ce.key == (captureKey{domain, callID}) {
			return ce.cap
		}
	}
	return nil
}

// RTPCapture returns the RTP capture of a call, nil when there is none (off
// for its domain, dropped for newer ones, or never made).
func (e *Engine) RTPCapture(domain, callID string) *pcap.Capture {
	return e.captures.get(domain, callID)
}

// CallCapture gathers what a call's pcap holds: its SIP messages, oldest
// first, and its RTP capture; for a bridged call whose legs are captured,
// the other leg's SIP and RTP too (the SDP of each leg is what lets a
// reader decode its RTP).
func (e *Engine) CallCapture(domain, callID string) ([]store.SIPMessage, []*pcap.Capture, error) {
	if e.db == nil {
		return nil, nil, errors.New("engine: no store to read the SIP log from")
	}
	msgs, err := CallSIPLog(e.db, e, domain, callID)
	if err != nil {
		return nil, nil, err
	}
	var rtp []*pcap.Capture
	if c := e.captures.get(domain, callID); c != nil {
		rtp = append(rtp, c)
	}
	if peer := e.captures.peerOf(domain, callID); peer != "" {
		more, err := CallSIPLog(e.db, nil, domain, peer)
		if err != nil {
			return nil, nil, err
		}
		msgs = append(msgs, more...)
		slices.SortStableFunc(msgs, func(a, b store.SIPMessage) int { return a.Time.Compare(b.Time) })
		if c := e.captures.get(domain, peer); c != nil {
			rtp = append(rtp, c)
		}
	}
	return msgs, rtp, nil
}

// CaptureBytes is the memory the RTP captures kept hold now.
func (e *Engine) CaptureBytes() int {
	e.captures.mu.Lock()
	defer e.captures.mu.Unlock()
	return e.captures.used
}

// captureSeconds reads the domain's callCaptureRtpSeconds (0: off).
func (e *Engine) captureSeconds(domain string) int {
	if e.db == nil {
		return 0
	}
	b, err := e.db.Get(store.Coll{Domain: domain, Resource: ResNotificationSettings}, "settings")
	if err != nil {
		return 0
	}
	var doc struct {
		Seconds int `json:"callCaptureRtpSeconds"`
	}
	if json.Unmarshal(b, &doc) != nil {
		return 0
	}
	return doc.Seconds
}

// captureFor makes c's capture when its domain asks for one, and lets it be
// dropped once c ends.
func (e *Engine) captureFor(c *Call) *pcap.Capture {
	cp := e.captures.start(c.Domain, c.ID, e.captureSeconds(c.Domain), time.Now())
	if cp != nil {
		c.onEnd(func() { e.captures.ended(c.Domain, c.ID) })
	}
	return cp
}
