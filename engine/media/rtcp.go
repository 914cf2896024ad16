package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// reportInterval is the RTCP interval; RFC 3550 §6.2 sets a 5 s minimum
// and a two-party call stays far under the bandwidth share.
const reportInterval = 5 * time.Second

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}

// ntpMiddle is the middle 32 bits of the NTP time, the LSR/DLSR unit (1/65536 s).
func ntpMiddle(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }

// rtcpPart is the RTCP of a session: where reports go, SRTCP both ways,
// and what the far end's reports told us. Packets are encoded and parsed by
// pion/rtcp; the statistics in them are ours (rxStats, RFC 3550 Appendix A).
// mu guards all of it and serialises sending.
type rtcpPart struct {
	s     *Session // for the receive statistics and the sender's counts
	conn  *net.UDPConn
	cname string

	mu        sync.Mutex
	remote    netip.AddrPort // where reports go: negotiated, then latched
	latched   bool
	srtcpIn   *srtp.Context
	srtcpOut  *srtp.Context
	plain     *packetBuf // SRTCP's buffers, made when SRTP is applied
	enc       *packetBuf
	lsr       uint32 // middle of the NTP time of the last SR received
	lsrAt     time.Time
	report    remoteReport
	bye       bool
	sent      bool // a report went out
	malformed uint64
	decrypt   uint64 // packets SRTCP refused
}

// remoteReport is the far end's report block about our stream.
type remoteReport struct {
	valid    bool
	fraction uint8
	lost     int32
	jitter   uint32
	hasRTT   bool // the block answered one of our SRs (LSR set)
	rtt      time.Duration
}

func (r *rtcpPart) init(s *Session, conn *net.UDPConn) {
	r.s, r.conn = s, conn
}

// apply takes a negotiation; ctxIn and ctxOut, when not nil, are new SRTCP
// contexts.
func (r *rtcpPart) apply(remote netip.AddrPort, srtpOn bool, ctxIn, ctxOut *srtp.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if remote.IsValid() && (remote != r.remote || !r.latched) {
		r.remote, r.latched = remote, false
	}
	if !srtpOn {
		r.srtcpIn, r.srtcpOut = nil, nil
		return
	}
	if r.plain == nil {
		r.plain, r.enc = new(packetBuf), new(packetBuf)
	}
	if ctxIn != nil {
		r.srtcpIn = ctxIn
	}
	if ctxOut != nil {
		r.srtcpOut = ctxOut
	}
}

// recvRTCP is the receive loop of the RTCP socket where it is not polled
// (rtcpPolled).
func (s *Session) recvRTCP() {
	defer s.exit()
	buf := s.readBuf(true)
	for {
		n, from, err := s.rtcp.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if s.isDone() {
				return
			}
			continue
		}
		s.rtcpDatagram(buf[:n], from, time.Now())
	}
}

// rtcpDatagram takes one datagram of the RTCP socket, which arrived at at:
// reports go where the far end's RTCP comes from (symmetric RTCP).
func (s *Session) rtcpDatagram(pkt []byte, from netip.AddrPort, at time.Time) {
	s.rtcp.mu.Lock()
	if !s.rtcp.latched {
		s.rtcp.remote, s.rtcp.latched = from, true
	}
	s.rtcp.mu.Unlock()
	s.receiveRTCP(pkt, from, at)
}

// natPing is the plain RTCP APP packet named PING (RFC 3550 §6.7) that
// baresip sends before its first SRTCP packet to open NAT pinholes: harmless,
// not a decryption failure.
func natPing(pkt []byte) bool {
	return len(pkt) == 16 && pkt[0]>>6 == 2 && pkt[1] == 204 && string(pkt[8:12]) == "PING"
}

// receiveRTCP reads a compound RTCP packet (RFC 3550 §6.4): the far end's
// sender report time for our LSR, its report block about our stream, and
// BYE. Other packet types are skipped; a malformed packet ends the compound.
func (s *Session) receiveRTCP(pkt []byte, from netip.AddrPort, now time.Time) {
	r := &s.rtcp
	r.mu.Lock()
	defer r.mu.Unlock()
	p := pkt
	if r.srtcpIn != nil {
		out, err := r.srtcpIn.DecryptRTCP(r.plain[:0], pkt, nil)
		if err != nil {
			if !natPing(pkt) {
				r.decrypt++
			}
			return
		}
		p = out
	}
	for len(p) >= 4 {
		var h rtcp.Header
		if err := h.Unmarshal(p); err != nil {
			r.malformed++
			return
		}
		length := (int(h.Length) + 1) * 4
		if length > len(p) {
			r.malformed++
			return
		}
		one := p[:length]
		p = p[length:]
		switch h.Type {
		case rtcp.TypeSenderReport:
			var sr rtcp.SenderReport
			if err := sr.Unmarshal(one); err != nil {
				r.malformed++
				return
			}
			r.lsr, r.lsrAt = uint32(sr.NTPTime>>16), now
			r.reportBlocks(sr.Reports, now)
		case rtcp.TypeReceiverReport:
			var rr rtcp.ReceiverReport
			if err := rr.Unmarshal(one); err != nil {
				r.malformed++
				return
			}
			r.reportBlocks(rr.Reports, now)
		case rtcp.TypeGoodbye:
			r.bye = true
		}
	}
}

// reportBlocks keeps the block about our SSRC (RFC 3550 §6.4.1). Called with mu.
func (r *rtcpPart) reportBlocks(blocks []rtcp.ReceptionReport, now time.Time) {
	for _, b := range blocks {
		if b.SSRC != r.s.ssrc {
			continue
		}
		rep := remoteReport{valid: true, fraction: b.FractionLost, lost: int32(b.TotalLost<<8) >> 8, jitter: b.Jitter}
		if b.LastSenderReport != 0 {
			// RTT = A - LSR - DLSR, in 1/65536 s (§6.4.1).
			rtt := int64(ntpMiddle(now)) - int64(b.LastSenderReport) - int64(b.Delay)
			if rtt < 0 {
				rtt += 1 << 32
			}
			if rtt >= 0 && rtt < 1<<20 {
				rep.hasRTT = true
				rep.rtt = time.Duration(rtt) * time.Second / 65536
			}
		}
		r.report = rep
	}
}

// housekeepingTick is how often housekeeping runs.
const housekeepingTick = time.Second

// housekeeping reads RTCP where it is polled, sends RTCP reports and
// watches the RTP timeout, once per
// housekeepingTick: the callback of the timer Start made, which rearms it
// until the session ends.
func (s *Session) housekeeping() {
	if s.isDone() {
		s.exit()
		return
	}
	if rtcpPolled {
		// Before a report, so that it answers the far end's latest SR.
		s.pollRTCP()
	}
	now := time.Now()
	if s.cfg.RTCPInterval > 0 && !now.Before(s.nextRTCP) {
		s.sendReport(now)
		// Randomised by ±50 % (RFC 3550 §6.3.1) so that calls set up
		// together do not report in step.
		s.nextRTCP = now.Add(s.cfg.RTCPInterval/2 + rand.N(s.cfg.RTCPInterval))
	}
	if s.in.timedOut(now, s.cfg.RTPTimeout) {
		first := s.end(ErrRTPTimeout)
		s.log.Info("rtp timeout", "rtp_port", s.port, "after", s.cfg.RTPTimeout)
		// Done before OnEnd, which may Close and wait for us.
		s.exit()
		if first && s.cfg.OnEnd != nil {
			s.cfg.OnEnd(ErrRTPTimeout)
		}
		return
	}
	// Under life, as end's close(done) and Stop: rearmed before end, the
	// timer is stopped by it; after, this tick sees done and leaves.
	s.life.Lock()
	if s.isDone() {
		s.life.Unlock()
		s.exit()
		return
	}
	s.hk.Reset(housekeepingTick)
	s.life.Unlock()
}

// sendReport sends SR (when we sent since the last one) or RR, with a
// report block about the far end's stream and an SDES CNAME (§6.1).
func (s *Session) sendReport(now time.Time) { s.sendRTCP(now, false) }

// sendRTCP sends a report; with bye, the compound ends with a BYE (RFC 3550
// §6.6) as the session leaves.
func (s *Session) sendRTCP(now time.Time, bye bool) {
	r := &s.rtcp
	r.mu.Lock()
	defer r.mu.Unlock()
	// The report interval closes even when the report cannot go out.
	block, haveRx := s.in.reportBlock()
	if haveRx && r.lsr != 0 {
		block.LastSenderReport = r.lsr
		block.Delay = uint32(now.Sub(r.lsrAt) * 65536 / time.Second)
	}
	tx := s.out.info(now)
	if !r.remote.IsValid() || r.remote.Port() == 0 {
		return
	}
	if bye && !r.sent && tx.packets == 0 {
		// RFC 3550 §6.3.7: a participant that never sent RTP or RTCP
		// sends no BYE (a call hung up before its media flowed).
		return
	}
	var blocks []rtcp.ReceptionReport
	if haveRx {
		blocks = []rtcp.ReceptionReport{block}
	}
	pkts := make([]rtcp.Packet, 0, 3)
	if tx.sending {
		pkts = append(pkts, &rtcp.SenderReport{SSRC: s.ssrc, NTPTime: ntpTime(now), RTPTime: tx.rtpTS,
			PacketCount: uint32(tx.packets), OctetCount: uint32(tx.octets), Reports: blocks})
	} else {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: blocks})
	}
	if r.cname == "" {
		// Made with the first report: most B2BUA legs end before one.
		r.cname = fmt.Sprintf("%08x@edgebridge", s.ssrc)
	}
	pkts = append(pkts, rtcp.NewCNAMESourceDescription(s.ssrc, r.cname))
	if bye {
		pkts = append(pkts, &rtcp.Goodbye{Sources: []uint32{s.ssrc}})
	}
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		s.log.Warn("rtcp: report not encoded", "rtp_port", s.port, "err", err)
		return
	}
	if r.srtcpOut != nil {
		out, err := r.srtcpOut.EncryptRTCP(r.enc[:0], b, nil)
		if err != nil {
			return
		}
		b = out
	}
	if _, err := r.conn.WriteToUDPAddrPort(b, r.remote); err == nil {
		r.sent = true
	}
}

// reportBlock closes a report interval of the far end's stream and gives
// its report block (RFC 3550 §6.4.1; LSR and DLSR are RTCP's to fill in);
// false before anything was received.
func (r *receiver) reportBlock() (rtcp.ReceptionReport, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stats.started {
		return rtcp.ReceptionReport{}, false
	}
	fraction, cum := r.stats.interval()
	return rtcp.ReceptionReport{
		SSRC:               r.stats.ssrc,
		FractionLost:       fraction,
		TotalLost:          uint32(cum) & 0xffffff,
		LastSequenceNumber: r.stats.extendedMax(),
		Jitter:             r.stats.jitterTS(),
	}, true
}
