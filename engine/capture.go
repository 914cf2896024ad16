package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// A call's RTP capture: off by default (privacy), on for the domain when its
// notificationsettings document sets callCaptureRtpSeconds (1-60, a gateway
// extension of the provisioning API). Each call leg then writes the first
// that many seconds of its RTP socket's traffic to a pcap file of its own
// in the capture folder (WithCaptureDir: the data folder's captures/), as
// it comes, through a small buffer made once, which the call's pcap export
// merges with the SIP log; after a restart the files are found again. The
// files take at most CaptureBudget bytes together: a new capture drops the
// oldest finished captures (the call ended, or its seconds are over) until
// it fits, and a call gets none when captures still filling take the
// budget. A capture still filling counts its whole size (seconds ×
// captureBytesPerSecond), a finished one what its file holds.
const (
	// CaptureBudget is the disk all RTP captures together may take.
	CaptureBudget = 16 << 20
	// CaptureMaxSeconds is the longest capture callCaptureRtpSeconds may ask.
	CaptureMaxSeconds = 60
	// captureBytesPerSecond sizes a capture: G.711 at 20 ms in both
	// directions (2 × 50 packets of 172 bytes, with the pcap record, the
	// Ethernet, IP and UDP headers) and room for RFC 4733 events and RTCP.
	captureBytesPerSecond = 24000
	// ResNotificationSettings is the domain document that holds the setting.
	ResNotificationSettings = "notificationsettings"
)

// WithCaptureBudget sets the disk all RTP captures may take (tests; the
// default is CaptureBudget).
func WithCaptureBudget(n int64) Option { return func(e *Engine) { e.captures.budget = n } }

// WithCaptureDir keeps the RTP captures in dir (made when needed); without
// it the engine captures no RTP, whatever the domains ask.
func WithCaptureDir(dir string) Option { return func(e *Engine) { e.captures.dir = dir } }

type captureKey struct{ domain, callID string }

type captureEntry struct {
	key  captureKey
	cap  *pcap.Capture
	live bool
	peer string // Call-ID of the other leg when bridged
}

// captureMeta is what a capture's .json file beside its .pcap says.
type captureMeta struct {
	Domain string `json:"domain"`
	CallID string `json:"callId"`
	Peer   string `json:"peer,omitempty"`
}

// captures keeps the RTP captures of calls, oldest first.
type captures struct {
	mu     sync.Mutex
	dir    string
	budget int64 // 0 means CaptureBudget
	loaded bool  // the files of an earlier run are listed
	list   []*captureEntry
}

// fileBase is the name of a capture's files in the folder (without
// extension): a hash, since a Call-ID is any text a peer chose.
func fileBase(k captureKey) string {
	h := sha256.Sum256([]byte(k.domain + "\x00" + k.callID))
	return hex.EncodeToString(h[:16])
}

// load lists the captures an earlier run left, oldest first, all finished;
// files without their other half (a crash between the two) go (cs.mu held).
func (cs *captures) load() {
	if cs.loaded || cs.dir == "" {
		return
	}
	cs.loaded = true
	names, _ := os.ReadDir(cs.dir)
	var found []*captureEntry
	keep := map[string]bool{}
	for _, n := range names {
		base, ok := strings.CutSuffix(n.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cs.dir, n.Name()))
		var m captureMeta
		if err != nil || json.Unmarshal(b, &m) != nil || fileBase(captureKey{m.Domain, m.CallID}) != base {
			continue
		}
		c, err := pcap.OpenCapture(filepath.Join(cs.dir, base+".pcap"))
		if err != nil {
			continue
		}
		keep[base] = true
		found = append(found, &captureEntry{key: captureKey{m.Domain, m.CallID}, cap: c, peer: m.Peer})
	}
	for _, n := range names {
		if base := strings.TrimSuffix(strings.TrimSuffix(n.Name(), ".json"), ".pcap"); !keep[base] {
			os.Remove(filepath.Join(cs.dir, n.Name()))
		}
	}
	slices.SortStableFunc(found, func(a, b *captureEntry) int { return a.cap.Created().Compare(b.cap.Created()) })
	cs.list = found
	for cs.used() > cs.limit() && len(cs.list) > 0 {
		cs.drop(0)
	}
}

func (cs *captures) limit() int64 {
	if cs.budget == 0 {
		return CaptureBudget
	}
	return cs.budget
}

// used is the disk the captures take or may take (cs.mu held).
func (cs *captures) used() int64 {
	var n int64
	for _, ce := range cs.list {
		n += ce.cap.Size()
	}
	return n
}

// drop deletes the i-th capture and its files (cs.mu held).
func (cs *captures) drop(i int) {
	ce := cs.list[i]
	ce.cap.Remove()
	os.Remove(filepath.Join(cs.dir, fileBase(ce.key)+".json"))
	cs.list = append(cs.list[:i], cs.list[i+1:]...)
}

// writeMeta writes a capture's .json (cs.mu held).
func (cs *captures) writeMeta(ce *captureEntry) error {
	b, _ := json.Marshal(captureMeta{Domain: ce.key.domain, CallID: ce.key.callID, Peer: ce.peer})
	path := filepath.Join(cs.dir, fileBase(ce.key)+".json")
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// start makes the capture of a call leg if its domain asks for one and the
// budget allows; nil otherwise. A leg asking again (a second media session
// of the same call) gets the capture it has.
func (cs *captures) start(domain, callID string, seconds int, now time.Time) *pcap.Capture {
	if seconds <= 0 || cs.dir == "" {
		return nil
	}
	k := captureKey{domain, callID}
	size := int64(min(seconds, CaptureMaxSeconds) * captureBytesPerSecond)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.load()
	for _, ce := range cs.list {
		if ce.key == k {
			ce.live = true
			return ce.cap
		}
	}
	budget := cs.limit()
	if size > budget {
		return nil
	}
	used := cs.used()
	for i := 0; i < len(cs.list) && used+size > budget; {
		if cs.list[i].live && !cs.list[i].cap.Done(now) {
			i++
			continue
		}
		used -= cs.list[i].cap.Size()
		cs.drop(i)
	}
	if used+size > budget {
		return nil
	}
	if err := os.MkdirAll(cs.dir, 0o700); err != nil {
		return nil
	}
	ce := &captureEntry{key: k, live: true}
	if cs.writeMeta(ce) != nil {
		return nil
	}
	c, err := pcap.NewCapture(filepath.Join(cs.dir, fileBase(k)+".pcap"), time.Duration(seconds)*time.Second, size)
	if err != nil {
		os.Remove(filepath.Join(cs.dir, fileBase(k)+".json"))
		return nil
	}
	ce.cap = c
	cs.list = append(cs.list, ce)
	return c
}

// ended closes a call's capture (its file then takes what it holds) and
// lets it be dropped for a newer one.
func (cs *captures) ended(domain, callID string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		if ce.key == (captureKey{domain, callID}) {
			ce.live = false
			ce.cap.Close()
		}
	}
}

// closeAll writes and closes every capture (the engine stops).
func (cs *captures) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		ce.live = false
		ce.cap.Close()
	}
}

// link notes that two legs of the domain are bridged, so that each leg's
// pcap holds the other's SIP and RTP too (also after a restart).
func (cs *captures) link(domain, a, b string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, ce := range cs.list {
		switch ce.key {
		case captureKey{domain, a}:
			ce.peer = b
		case captureKey{domain, b}:
			ce.peer = a
		default:
			continue
		}
		cs.writeMeta(ce)
	}
}

func (cs *captures) peerOf(domain, callID string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.load()
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
	cs.load()
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

// CaptureBytes is the disk the RTP captures take or may take now.
func (e *Engine) CaptureBytes() int64 {
	e.captures.mu.Lock()
	defer e.captures.mu.Unlock()
	e.captures.load()
	return e.captures.used()
}

// captureSeconds reads the domain's callCaptureRtpSeconds (0: off).
func (e *Engine) captureSeconds(domain string) int {
	if e.db == nil || e.captures.dir == "" {
		return 0
	}
	v, err := e.db.Cached(store.CacheKey{Read: "engine.captureSeconds", Domain: domain}, func(tx *store.Tx) (any, error) {
		b, err := tx.Get(store.Coll{Domain: domain, Resource: ResNotificationSettings}, "settings")
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		var doc struct {
			Seconds int `json:"callCaptureRtpSeconds"`
		}
		if json.Unmarshal(b, &doc) != nil {
			return 0, nil
		}
		return doc.Seconds, nil
	})
	if err != nil {
		return 0
	}
	return v.(int)
}

// captureFor makes c's capture when its domain asks for one, and closes it
// once c ends.
func (e *Engine) captureFor(c *Call) *pcap.Capture {
	cp := e.captures.start(c.Domain, c.ID, e.captureSeconds(c.Domain), time.Now())
	if cp != nil {
		c.onEnd(func() { e.captures.ended(c.Domain, c.ID) })
	}
	return cp
}
