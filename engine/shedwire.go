package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
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
// waited: once the waits have stood at OverloadConfig.MaxWait or more for
// standFor (250 ms), new INVITEs are refused at once, which drains the
// queue (a refusal costs next to nothing) until a datagram waited less.
// The calls taken thus see a bounded delay, under SIP's first
// retransmission (T1, 500 ms). A single stall (the board's CPU taken for a
// moment) is read away within milliseconds and refuses nothing.

// shedConn is the engine's UDP socket as sipgo reads it.
type shedConn struct {
	net.PacketConn
	e    *Engine
	mark []byte // ";tag=" plus this engine's prefix of the To tags of its stateless 503s
	seq  atomic.Uint64
	out  []byte // the response being built; the reader goroutine's alone
	// udp is the socket read with its arrival stamps (nil: not stamped);
	// oob their control buffer, the reader goroutine's alone.
	udp    *net.UDPConn
	oob    []byte
	behind standing // the queue's wait, each datagram's
}

func newShedConn(e *Engine, pc net.PacketConn) *shedConn {
	var r [4]byte
	_, _ = rand.Read(r[:])
	c := &shedConn{PacketConn: pc, e: e, mark: []byte(";tag=shed" + hex.EncodeToString(r[:]) + "-")}
	if pc != nil {
		if c.udp = stampSocket(pc); c.udp != nil {
			c.oob = make([]byte, stampSpace)
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
	if at, ok := arrival(c.oob[:oobn]); ok {
		waited = max(0, time.Since(at))
	}
	// Unmapped, as ReadFrom gives it: sipgo and the engine key peers by
	// the address's string.
	return n, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), waited, nil
}

func (c *shedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, waited, err := c.read(b)
		if err != nil || n < 4 {
			return n, addr, err
		}
		behind := c.udp != nil && c.behind.over(waited, c.e.shed.cfg.MaxWait, time.Now())
		pkt := b[:n]
		switch {
		case bytes.HasPrefix(pkt, []byte("ACK ")):
			if bytes.Contains(pkt, c.mark) {
				continue // the ACK of a stateless 503: nothing waits for it
			}
		case bytes.HasPrefix(pkt, []byte("INVITE ")):
			why := c.e.shed.overloadedAfter(waited, behind, c.e.freePairs())
			if why == "" {
				break
			}
			res := c.refuse(pkt, why)
			if res == nil {
				break // not read with certainty: sipgo's way
			}
			c.e.refused(why)
			_, _ = c.PacketConn.WriteTo(res, addr)
			continue
		}
		return n, addr, err
	}
}

// refuse builds the 503 for a new INVITE from its raw bytes, or returns
// nil when the request is not plainly one (folded or repeated headers, a
// To tag: an in-dialog re-INVITE is never shed here, a method other than
// INVITE in CSeq, a missing header).
func (c *shedConn) refuse(pkt []byte, why string) []byte {
	h, ok := parseShedHeaders(pkt)
	if !ok {
		return nil
	}
	out := append(c.out[:0], "SIP/2.0 503 Service Unavailable\r\n"...)
	for _, v := range h.via {
		out = append(out, v...)
		out = append(out, "\r\n"...)
	}
	out = append(out, h.from...)
	out = append(out, "\r\n"...)
	out = append(out, h.to...)
	out = append(out, c.mark...)
	out = strconv.AppendUint(out, c.seq.Add(1), 10)
	out = append(out, "\r\n"...)
	out = append(out, h.callID...)
	out = append(out, "\r\n"...)
	out = append(out, h.cseq...)
	out = append(out, "\r\nRetry-After: "...)
	out = strconv.AppendInt(out, int64(c.e.shed.retryAfter()), 10)
	out = append(out, "\r\nReason: SIP;cause=503;text=\""...)
	out = append(out, why...)
	out = append(out, "\"\r\nContent-Length: 0\r\n\r\n"...)
	c.out = out
	return out
}

// shedHeaders are the lines of a request a response copies (RFC 3261
// §8.2.6.2), each whole, name included.
type shedHeaders struct {
	via                    [][]byte
	from, to, callID, cseq []byte
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
				return h, false // in a dialog
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
