package engine

import (
	"errors"
	"hash/fnv"
	"io"
	"net/netip"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// ErrNoMessages means the SIP log holds nothing for the call asked for.
var ErrNoMessages = errors.New("engine: no SIP messages logged for that call")

// CallPcapLimit is how many messages of one call an export holds at most:
// the newest ones. It bounds the memory one export takes.
const CallPcapLimit = 10000

// SIPLogFlusher hands the SIP messages seen so far to the SIP log;
// *Engine is one (FlushSIPLog).
type SIPLogFlusher interface{ FlushSIPLog() }

// CallSIPLog reads the logged SIP messages of one call, oldest first, at
// most CallPcapLimit. The engine writes its trace to the store in batches
// (every 200 ms), so f, when not nil, is flushed first: without that the
// last messages of a call that has just ended would be missing.
func CallSIPLog(db *store.DB, f SIPLogFlusher, domain, callID string) ([]store.SIPMessage, error) {
	if f != nil {
		f.FlushSIPLog()
	}
	return db.QuerySIP(domain, store.SIPQuery{CallID: callID, Limit: CallPcapLimit})
}

// WriteCallPcap writes the SIP messages of a call, as the store's SIP log
// holds them, and its RTP capture if it has one, as a pcap (see
// WriteCallCapture).
func (e *Engine) WriteCallPcap(w io.Writer, domain, callID string) error {
	if e.db == nil {
		return errors.New("engine: no store to read the SIP log from")
	}
	msgs, rtp, err := e.CallCapture(domain, callID)
	if err != nil {
		return err
	}
	_, err = WriteCallCapture(w, msgs, rtp...)
	return err
}

// WritePcap writes logged SIP messages as a pcap, oldest first, for
// Wireshark or sngrep, each over the transport it crossed: a UDP datagram,
// or for TCP and TLS (written decrypted, as the gateway read or wrote it)
// a TCP segment between the real ports whose sequence numbers run on per
// direction of the connection, so that a reader reassembles the stream. A
// message longer than one packet is cut. A message whose addresses cannot
// be written (not ip:port, or source and destination of different IP
// families) is left out and counted in skipped, so that one odd log entry
// does not cost the whole export.
func WritePcap(w io.Writer, msgs []store.SIPMessage) (skipped int, err error) {
	return WriteCallCapture(w, msgs, nil)
}

// CallCapturer gathers what a call's pcap holds (SIP messages, oldest
// first, and RTP captures, its bridged leg's included); *Engine is one
// (capture.go).
type CallCapturer interface {
	CallCapture(domain, callID string) ([]store.SIPMessage, []*pcap.Capture, error)
}

// tcpFlows keeps the next sequence number of each direction of each TCP
// connection a capture writes.
type tcpFlows map[[2]netip.AddrPort]uint32

// next returns the sequence number of the next byte from src to dst: it
// starts where the export first meets the direction, at a value drawn from
// the addresses (a capture joins connections that are already open, so
// there is no SYN to start from).
func (f tcpFlows) next(src, dst netip.AddrPort) uint32 {
	k := [2]netip.AddrPort{src, dst}
	if n, ok := f[k]; ok {
		return n
	}
	h := fnv.New32a()
	b, _ := src.MarshalBinary()
	h.Write(b)
	b, _ = dst.MarshalBinary()
	h.Write(b)
	n := h.Sum32()
	f[k] = n
	return n
}

// WriteCallCapture writes a call's SIP messages as WritePcap does, merged
// in time with the packets of its RTP captures (UDP datagrams, as they
// crossed the RTP sockets).
func WriteCallCapture(w io.Writer, msgs []store.SIPMessage, rtp ...*pcap.Capture) (skipped int, err error) {
	if len(msgs) == 0 {
		return 0, ErrNoMessages
	}
	pw, err := pcap.NewWriter(w)
	if err != nil {
		return 0, err
	}
	flows := tcpFlows{}
	writeSIP := func(m store.SIPMessage) error {
		src, err1 := netip.ParseAddrPort(m.Src)
		dst, err2 := netip.ParseAddrPort(m.Dst)
		if err1 != nil || err2 != nil || src.Addr().Unmap().Is4() != dst.Addr().Unmap().Is4() {
			skipped++
			return nil
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
		raw := []byte(m.Raw)
		if m.Transport == "tcp" || m.Transport == "tls" {
			if len(raw) > pcap.MaxSegment {
				raw = raw[:pcap.MaxSegment]
			}
			seq, ack := flows.next(src, dst), flows.next(dst, src)
			flows[[2]netip.AddrPort{src, dst}] = seq + uint32(len(raw))
			return pw.WriteSegment(m.Time, src, dst, seq, ack, raw)
		}
		if len(raw) > pcap.MaxPayload {
			raw = raw[:pcap.MaxPayload]
		}
		return pw.WritePacket(m.Time, src, dst, raw)
	}
	// The captures' packets, each capture read from its file as it goes
	// (in the order its packets came), merged in time with each other and
	// with the SIP messages: the export's memory does not grow with them.
	var curs []*rtpCursor
	defer func() {
		for _, c := range curs {
			c.r.Close()
		}
	}()
	for _, c := range rtp {
		if c == nil {
			continue
		}
		r, err := c.Open()
		if err != nil {
			return skipped, err
		}
		cur := &rtpCursor{r: r}
		curs = append(curs, cur)
		cur.next()
	}
	next := 0 // the first SIP message not written yet
	for {
		var p *rtpCursor
		for _, c := range curs {
			if c.ok && (p == nil || c.p.Time.Before(p.p.Time)) {
				p = c
			}
		}
		if p == nil {
			break
		}
		for ; next < len(msgs) && !msgs[next].Time.After(p.p.Time); next++ {
			if err := writeSIP(msgs[next]); err != nil {
				return skipped, err
			}
		}
		if p.p.Src.Addr().Is4() != p.p.Dst.Addr().Is4() {
			skipped++
		} else if err := pw.WritePacket(p.p.Time, p.p.Src, p.p.Dst, p.p.Payload); err != nil {
			return skipped, err
		}
		p.next()
	}
	for ; next < len(msgs); next++ {
		if err := writeSIP(msgs[next]); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}

// rtpCursor is the next packet of one capture being exported.
type rtpCursor struct {
	r  *pcap.CaptureReader
	p  pcap.Packet
	ok bool
}

func (c *rtpCursor) next() {
	var err error
	c.p, err = c.r.Next()
	c.ok = err == nil
}
