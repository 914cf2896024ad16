package engine

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/engine/udpstamp"
)

// Shedding at the socket. Past capacity most of what arrives are new
// INVITEs that will be refused; refusing each one after sipgo has parsed it
// into a transaction (a goroutine, timers, a context, the SIP log) costs as
// much as a good part of a call, so a flood slows the reading of the very
// messages (answers, ACKs, BYEs) that complete the calls already taken, the
// socket overflows and those calls stall in retransmissions. While the
// shedder says the engine is saturated, the UDP socket's reader answers a
// new INVITE 503 with Retry-After from its raw bytes (RFC 3261 §8.2.7, a
// stateless UAS) and drops the ACK of that 503, before sipgo sees either.
// Anything it cannot read with certainty goes up the ordinary way, where
// admitInvite refuses it. These INVITEs are counted (Stats.Shed) but not
// written to the SIP log: the log of a flood would be the load.
//
// Saturation shows first here: a daemon that keeps up reads each datagram
// within a millisecond of its arrival, one that does not falls behind, and
// the wait grows for every message alike, the answers, ACKs and BYEs of
// the calls already taken included. The kernel stamps each datagram with
// its arrival (SO_TIMESTAMPNS), so the reader knows how long each one
// waited, and the shedder's admission rate (overload.go) follows it: new
// INVITEs past the rate are refused here, which drains the queue (a
// refusal costs next to nothing), so that the calls taken see a bounded
// delay, under SIP's first retransmission (T1, 500 ms). A single stall (the
// board's CPU taken for a moment) is read away within milliseconds and
// refuses nothing.
//
// The reader remembers each new INVITE it passed on or refused for
// inviteMemory, by its key: a retransmission of one passed on goes to its
// transaction whatever the load (refused, the caller would fail a call we
// took), one of a refused INVITE gets the same 503 (To tag and Retry-After
// come from the key) without a second decision.

// shedConn is the engine's UDP socket as sipgo reads it.
type shedConn struct {
	net.PacketConn
	e    *Engine
	mark []byte       // ";tag=" plus this engine's prefix of the To tags of its stateless 503s
	out  []byte       // the response being built; the reader goroutine's alone
	seen *inviteTable // the engine's offered
	// udp is the socket read with its arrival stamps (nil: not stamped);
	// oob their control buffer, the reader goroutine's alone.
	udp    *net.UDPConn
	oob    []byte
	behind standing // the queue's wait, each datagram's, at MaxWait
	busy   standing // the same at MaxWait/2 for standFor/2: the admission rate starts
	// raw sends past the runtime's write lock (nil: not on this system).
	raw *rawWriter
}

func newShedConn(e *Engine, pc net.PacketConn) *shedConn {
	var r [4]byte
	_, _ = rand.Read(r[:])
	c := &shedConn{PacketConn: pc, e: e, mark: []byte(";tag=shed" + hex.EncodeToString(r[:]) + "-"), seen: &e.offered, busy: standing{span: standFor / 2}}
	if pc != nil {
		if u, ok := pc.(*net.UDPConn); ok {
			// Elsewhere than Linux the socket's queue is not measured: the
			// shedder goes by the probe's delay and the setups in flight alone.
			if udpstamp.Enable(u) {
				c.udp, c.oob = u, make([]byte, udpstamp.Space)
			}
			c.raw = newRawWriter(u)
		}
	}
	return c
}

// read reads one datagram and says how long it waited in the socket's
// queue (0 when the socket is not stamped).
func (c *shedConn) read(b []byte) (int, net.Addr, time.Duration, error) {
	if c.udp == nil {
		n, addr, err := c.PacketConn.ReadFrom(b)
		return n, addr, 0, err
	}
	n, oobn, _, ap, err := c.udp.ReadMsgUDPAddrPort(b, c.oob)
	if err != nil {
		return n, nil, 0, err
	}
	var waited time.Duration
	if at, ok := udpstamp.Arrival(c.oob[:oobn]); ok {
		waited = max(0, time.Since(at))
	}
	// Unmapped, as ReadFrom gives it: sipgo and the engine key peers by
	// the address's string.
	return n, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), waited, nil
}

// WriteTo sends b, through the raw writer when it can (shedwrite_linux.go).
func (c *shedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.raw != nil {
		if n, ok, err := c.raw.writeTo(b, addr); ok {
			return n, err
		}
	}
	return c.PacketConn.WriteTo(b, addr)
}

func (c *shedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, waited, err := c.read(b)
		if err != nil && c.raw != nil {
			// sipgo reads no more after an error (the socket closed):
			// the duplicate goes, so that the port is free again.
			c.raw.close()
		}
		if err != nil || n < 4 {
			return n, addr, err
		}
		now := time.Now()
		behind := false
		// While the queue stands, a new INVITE that itself waited MaxWait
		// is refused whatever the rate; a stall's backlog is not.
		drain := time.Duration(math.MaxInt64)
		if c.udp != nil {
			c.e.shed.sawWait(waited)
			behind = c.behind.over(waited, c.e.shed.cfg.MaxWait, now)
			if c.busy.over(waited, c.e.shed.cfg.MaxWait/2, now) {
				c.e.shed.gate.start(now)
				drain = c.e.shed.cfg.MaxWait
			}
		}
		pkt := b[:n]
		switch {
		case bytes.HasPrefix(pkt, []byte("ACK ")):
			if bytes.Contains(pkt, c.mark) {
				continue // the ACK of a stateless 503: nothing waits for it
			}
		case bytes.HasPrefix(pkt, []byte("INVITE ")):
			h, ok := parseShedHeaders(pkt)
			if !ok {
				// Not read with certainty: sipgo's way, where admitInvite
				// decides, rate included (a re-INVITE is no new call).
				if !h.inDialog {
					c.e.shed.passUnrated()
				}
				break
			}
			key := h.key()
			switch c.seen.find(key, now) {
			case invitePassed:
				// A retransmission of an INVITE taken: its transaction
				// answers it; refused, it would fail a call taken.
				return n, addr, err
			case inviteRefused:
				// A retransmission of one refused: the same 503 again.
				_, _ = c.WriteTo(c.refuse(h, key, "overloaded"), addr)
				continue
			}
			why := c.e.shed.overloadedAfter(waited, behind, c.e.freePairs())
			if why == "" {
				why = c.e.shed.gate.take(now.Add(-waited), waited, drain)
			}
			if why == "" {
				c.seen.add(key, false, now)
				break
			}
			c.seen.add(key, true, now)
			c.e.refused(why)
			_, _ = c.WriteTo(c.refuse(h, key, why), addr)
			continue
		}
		return n, addr, err
	}
}

// refuse builds the 503 for a new INVITE from its header lines. Its To tag
// and Retry-After come from the INVITE's key, so that a retransmission
// gets the same answer without anything more kept (RFC 3261 §8.2.7).
func (c *shedConn) refuse(h shedHeaders, key uint64, why string) []byte {
	out := append(c.out[:0], "SIP/2.0 503 Service Unavailable\r\n"...)
	for _, v := range h.via {
		out = append(out, v...)
		out = append(out, "\r\n"...)
	}
	out = append(out, h.from...)
	out = append(out, "\r\n"...)
	out = append(out, h.to...)
	out = append(out, c.mark...)
	out = strconv.AppendUint(out, key, 16)
	out = append(out, "\r\n"...)
	out = append(out, h.callID...)
	out = append(out, "\r\n"...)
	out = append(out, h.cseq...)
	out = append(out, "\r\nRetry-After: "...)
	base := c.e.shed.cfg.RetryAfter
	out = strconv.AppendInt(out, int64((base+time.Duration(key%uint64(base+time.Second)))/time.Second), 10)
	out = append(out, "\r\nReason: SIP;cause=503;text=\""...)
	out = append(out, why...)
	out = append(out, "\"\r\nContent-Length: 0\r\n\r\n"...)
	c.out = out
	return out
}

// key identifies an INVITE and its retransmissions (which repeat its top
// Via, Call-ID and CSeq byte for byte): FNV-1a over those lines.
func (h *shedHeaders) key() uint64 {
	k := fnvLine(fnvOffset, h.via[0])
	k = fnvLine(k, h.callID)
	return fnvLine(k, h.cseq)
}

// fnvOffset starts an FNV-1a hash of lines (fnvLine).
const fnvOffset = uint64(14695981039346656037)

// fnvLine adds line and a line end to the FNV-1a hash k.
func fnvLine[T string | []byte](k uint64, line T) uint64 {
	for i := 0; i < len(line); i++ {
		k = (k ^ uint64(line[i])) * 1099511628211
	}
	return (k ^ '\n') * 1099511628211
}

// inviteMemory is how long the socket's reader remembers what it did with
// a new INVITE: SIP retransmits an INVITE 0.5, 1.5, 3.5 and 7.5 s after
// sending it (T1 doubling) until it hears a response.
const inviteMemory = 8 * time.Second

// inviteMemo remembers, by key, the new INVITEs the socket's reader passed
// on or refused over the last inviteMemory, in a table of buckets of four.
// The table follows the rate: it is made small (minInviteSlots) on the
// first INVITE and doubled whenever a bucket would push out an entry still
// remembered, up to limit slots; there an INVITE pushed out of a full
// bucket by newer ones is decided afresh when retransmitted, so that no
// input grows it further. tidy fits it back to what is still remembered.
type inviteMemo struct {
	slots []inviteSlot
	limit int // slots at most, a power of two; 0: inviteSlots
}

type inviteSlot struct {
	key uint64 // the low bit: refused
	at  int64  // unix nanoseconds it was decided; 0: empty
}

const (
	// inviteSlots bounds the reader's table: 512 KiB.
	inviteSlots = 1 << 15
	// minInviteSlots is a table's size at its first entry: 4 KiB, a page,
	// enough for a few calls a second.
	minInviteSlots = 1 << 8
)

type inviteSeen int

const (
	inviteNew inviteSeen = iota
	invitePassed
	inviteRefused
)

func (m *inviteMemo) bucket(key uint64) []inviteSlot {
	i := int(key>>32) & (len(m.slots) - 1) &^ 3
	return m.slots[i : i+4]
}

func (s inviteSlot) remembered(now time.Time) bool {
	return s.at != 0 && now.UnixNano()-s.at < int64(inviteMemory)
}

func (m *inviteMemo) find(key uint64, now time.Time) inviteSeen {
	if m.slots == nil {
		return inviteNew
	}
	for _, s := range m.bucket(key) {
		if s.key|1 == key|1 && s.remembered(now) {
			if s.key&1 == 1 {
				return inviteRefused
			}
			return invitePassed
		}
	}
	return inviteNew
}

// add remembers key in the slot of its bucket that matters least: an
// empty or forgotten one, else the oldest refusal (its retransmission
// decided afresh costs little), else the oldest. Before it pushes out an
// entry still remembered, the table doubles while it may.
func (m *inviteMemo) add(key uint64, refused bool, now time.Time) {
	limit := cmp.Or(m.limit, inviteSlots)
	if m.slots == nil {
		m.slots = make([]inviteSlot, min(minInviteSlots, limit))
	}
	b, old, least := m.least(key, now)
	for least > 0 && len(m.slots) < limit {
		m.slots, _ = m.moved(2*len(m.slots), now) // a bucket splits in two: nothing is left out
		b, old, least = m.least(key, now)
	}
	key &^= 1
	if refused {
		key |= 1
	}
	b[old] = inviteSlot{key: key, at: now.UnixNano()}
}

// least finds key's bucket, the slot in it that matters least and that
// slot's rank: 0 empty or forgotten, 1 a refusal, 2 an INVITE passed on.
func (m *inviteMemo) least(key uint64, now time.Time) (b []inviteSlot, old, least int) {
	b = m.bucket(key)
	least = 3
	for i := range b {
		rank := 2 // passed on
		switch {
		case !b[i].remembered(now):
			rank = 0
		case b[i].key&1 == 1:
			rank = 1
		}
		if rank < least || rank == least && b[i].at < b[old].at {
			old, least = i, rank
		}
	}
	return b, old, least
}

// moved is a table of size slots holding the entries still remembered, or
// false when one of its buckets cannot hold them all.
func (m *inviteMemo) moved(size int, now time.Time) ([]inviteSlot, bool) {
	to := inviteMemo{slots: make([]inviteSlot, size)}
	for _, s := range m.slots {
		if !s.remembered(now) {
			continue
		}
		b, i, rank := to.least(s.key, now)
		if rank > 0 {
			return nil, false
		}
		b[i] = s
	}
	return to.slots, true
}

// tidy fits the table to what it still remembers: with nothing, the table
// goes (a flood's touched every page of it, which a quiet gateway kept for
// good); with entries that a quarter of its slots or fewer hold at a
// quarter full, they move to that smaller table. It says whether the
// table went.
func (m *inviteMemo) tidy(now time.Time) bool {
	n := 0
	for _, s := range m.slots {
		if s.remembered(now) {
			n++
		}
	}
	if n == 0 {
		m.slots = nil
		return true
	}
	for size := max(minInviteSlots, 4<<bits.Len(uint(n-1))); size <= len(m.slots)/4; size *= 2 {
		if slots, ok := m.moved(size, now); ok {
			m.slots = slots
			break
		}
	}
	return false
}

// inviteTable is an inviteMemo behind a lock: its owner (the socket's
// reader, or the handlers that answer) uses it while the SIP tracer's
// ticks tidy it (quiet.go).
type inviteTable struct {
	mu sync.Mutex
	m  inviteMemo
}

func (t *inviteTable) find(key uint64, now time.Time) inviteSeen {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m.find(key, now)
}

func (t *inviteTable) add(key uint64, refused bool, now time.Time) {
	t.mu.Lock()
	t.m.add(key, refused, now)
	t.mu.Unlock()
}

func (t *inviteTable) tidy(now time.Time) {
	t.mu.Lock()
	t.m.tidy(now)
	t.mu.Unlock()
}

// shedHeaders are the lines of a request a response copies (RFC 3261
// §8.2.6.2), each whole, name included.
type shedHeaders struct {
	via                    [][]byte
	from, to, callID, cseq []byte
	inDialog               bool // a To tag: a re-INVITE, which admitInvite never sees
}

// parseShedHeaders finds the header lines a stateless 503 copies in a new
// INVITE, and says whether the request is plainly one.
func parseShedHeaders(pkt []byte) (shedHeaders, bool) {
	var h shedHeaders
	end := bytes.Index(pkt, []byte("\r\n\r\n"))
	if end < 0 {
		return h, false
	}
	head := pkt[:end+2]
	i := bytes.Index(head, []byte("\r\n"))
	if i < 0 || !bytes.HasSuffix(head[:i], []byte(" SIP/2.0")) {
		return h, false
	}
	head = head[i+2:]
	for len(head) > 0 {
		i := bytes.Index(head, []byte("\r\n"))
		if i < 0 {
			return h, false
		}
		line := head[:i]
		head = head[i+2:]
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' || bytes.ContainsAny(line, "\r\n\x00") {
			return h, false // folded, or bytes a copy would carry into our answer
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, false
		}
		name = bytes.TrimSpace(name)
		value = bytes.TrimSpace(value)
		var slot *[]byte
		switch {
		case bytes.EqualFold(name, []byte("Via")) || bytes.EqualFold(name, []byte("v")):
			if len(value) == 0 || len(h.via) == 16 {
				return h, false
			}
			h.via = append(h.via, line)
			continue
		case bytes.EqualFold(name, []byte("From")) || bytes.EqualFold(name, []byte("f")):
			slot = &h.from
		case bytes.EqualFold(name, []byte("To")) || bytes.EqualFold(name, []byte("t")):
			if bytes.Contains(bytes.ToLower(value), []byte("tag=")) {
				h.inDialog = true
				return h, false
			}
			slot = &h.to
		case bytes.EqualFold(name, []byte("Call-ID")) || bytes.EqualFold(name, []byte("i")):
			slot = &h.callID
		case bytes.EqualFold(name, []byte("CSeq")):
			f := bytes.Fields(value)
			if len(f) != 2 || string(f[1]) != "INVITE" {
				return h, false
			}
			if _, err := strconv.ParseUint(string(f[0]), 10, 32); err != nil {
				return h, false
			}
			slot = &h.cseq
		default:
			continue
		}
		if *slot != nil || len(value) == 0 {
			return h, false
		}
		*slot = line
	}
	if len(h.via) == 0 || h.from == nil || h.to == nil || h.callID == nil || h.cseq == nil {
		return h, false
	}
	return h, true
}
