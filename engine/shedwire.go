package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
	"sync/atomic"
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

// shedConn is the engine's UDP socket as sipgo reads it.
type shedConn struct {
	net.PacketConn
	e    *Engine
	mark []byte // ";tag=" plus this engine's prefix of the To tags of its stateless 503s
	seq  atomic.Uint64
	out  []byte // the response being built; the reader goroutine's alone
}

func newShedConn(e *Engine, pc net.PacketConn) *shedConn {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return &shedConn{PacketConn: pc, e: e, mark: []byte(";tag=shed" + hex.EncodeToString(r[:]) + "-")}
}

func (c *shedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n < 4 {
			return n, addr, err
		}
		pkt := b[:n]
		switch {
		case bytes.HasPrefix(pkt, []byte("ACK ")):
			if bytes.Contains(pkt, c.mark) {
				continue // the ACK of a stateless 503: nothing waits for it
			}
		case bytes.HasPrefix(pkt, []byte("INVITE ")):
			why := c.e.shed.overloaded(c.e.freePairs())
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
