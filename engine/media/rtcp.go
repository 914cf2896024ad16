package media

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"
)

// RTCP packet types (RFC 3550 §12.1).
const (
	rtcpSR   = 200
	rtcpRR   = 201
	rtcpSDES = 202
	rtcpBYE  = 203
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

// recvRTCP is the receive loop of the RTCP socket.
func (s *Session) recvRTCP() {
	defer s.wg.Done()
	var buf [1500]byte
	for {
		n, from, err := s.rtcpC.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if s.isDone() {
				return
			}
			continue
		}
		s.mu.Lock()
		if !s.rtcpLatch {
			s.remoteRTCP, s.rtcpLatch = from, true
		}
		s.mu.Unlock()
		s.receiveRTCP(buf[:n], from, time.Now())
	}
}

// receiveRTCP reads a compound RTCP packet (RFC 3550 §6.4): the far end's
// sender report time for our LSR, and its report block about our stream.
func (s *Session) receiveRTCP(pkt []byte, from netip.AddrPort, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := pkt
	if s.srtcpIn != nil {
		out, err := s.srtcpIn.DecryptRTCP(s.plain[:0], pkt, nil)
		if err != nil {
			s.decryptErr++
			return
		}
		p = out
	}
	for len(p) >= 4 {
		if p[0]>>6 != 2 {
			s.malformed++
			return
		}
		count := int(p[0] & 0x1f)
		length := (int(binary.BigEndian.Uint16(p[2:])) + 1) * 4
		if length > len(p) {
			s.malformed++
			return
		}
		body := p[4:length]
		switch p[1] {
		case rtcpSR:
			if len(body) < 24 {
				s.malformed++
				return
			}
			s.lsr = binary.BigEndian.Uint32(body[6:10])
			s.lsrAt = now
			s.reportBlocks(body[24:], count, now)
		case rtcpRR:
			if len(body) < 4 {
				s.malformed++
				return
			}
			s.reportBlocks(body[4:], count, now)
		case rtcpBYE:
			s.remoteBye = true
		}
		p = p[length:]
	}
}

// reportBlocks keeps the block about our SSRC (RFC 3550 §6.4.1). Called with mu.
func (s *Session) reportBlocks(b []byte, count int, now time.Time) {
	for i := 0; i < count && len(b) >= 24; i++ {
		blk := b[:24]
		b = b[24:]
		if binary.BigEndian.Uint32(blk) != s.ssrc {
			continue
		}
		lost := int32(binary.BigEndian.Uint32(blk[4:])<<8) >> 8 // signed 24 bits
		r := remoteReport{valid: true, fraction: blk[4], lost: lost, jitter: binary.BigEndian.Uint32(blk[12:])}
		if lsr := binary.BigEndian.Uint32(blk[16:]); lsr != 0 {
			// RTT = A - LSR - DLSR, in 1/65536 s (§6.4.1).
			rtt := int64(ntpMiddle(now)) - int64(lsr) - int64(binary.BigEndian.Uint32(blk[20:]))
			if rtt < 0 {
				rtt += 1 << 32
			}
			if rtt >= 0 && rtt < 1<<20 {
				r.rtt = time.Duration(rtt) * time.Second / 65536
			}
		}
		s.remoteRep = r
	}
}

// housekeeping sends RTCP reports and watches the RTP timeout.
func (s *Session) housekeeping() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	// First report after half the interval (RFC 3550 §6.2), then each
	// interval, randomised by ±50 % (§6.3.1) so that calls set up together
	// do not report in step.
	nextReport := time.Now().Add(s.cfg.RTCPInterval / 2)
	for {
		select {
		case <-s.done:
			s.wg.Done()
			return
		case now := <-t.C:
			if s.cfg.RTCPInterval > 0 && !now.Before(nextReport) {
				s.sendReport(now)
				nextReport = now.Add(s.cfg.RTCPInterval/2 + rand.N(s.cfg.RTCPInterval))
			}
			if s.timedOut(now) {
				first := s.end(ErrRTPTimeout)
				s.log.Info("rtp timeout", "after", s.cfg.RTPTimeout)
				// Done before OnEnd, which may Close and wait for us.
				s.wg.Done()
				if first && s.cfg.OnEnd != nil {
					s.cfg.OnEnd(ErrRTPTimeout)
				}
				return
			}
		}
	}
}

// timedOut: nothing received for RTPTimeout while the far end should send
// (not while it holds us with sendonly/inactive... from its side).
func (s *Session) timedOut(now time.Time) bool {
	if s.cfg.RTPTimeout < 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dir.Receives() {
		s.lastRx = now // on hold: the clock restarts when media resumes
		return false
	}
	return now.Sub(s.lastRx) > s.cfg.RTPTimeout
}

// sendReport sends SR (when we sent since the last one) or RR, with a
// report block about the far end's stream and an SDES CNAME (§6.1).
func (s *Session) sendReport(now time.Time) { s.sendRTCP(now, false) }

// sendRTCP sends a report; with bye, the compound ends with a BYE (RFC 3550
// §6.6) as the session leaves.
func (s *Session) sendRTCP(now time.Time, bye bool) {
	s.rtcpMu.Lock()
	defer s.rtcpMu.Unlock()
	s.mu.Lock()
	haveRx := s.rx.started
	var fraction uint8
	var cum int32
	var ext, jit, remoteSSRC, lsr, dlsr uint32
	if haveRx {
		fraction, cum = s.rx.interval()
		ext, jit, remoteSSRC = s.rx.extendedMax(), s.rx.jitterTS(), s.rx.ssrc
		if s.lsr != 0 {
			lsr = s.lsr
			dlsr = uint32(now.Sub(s.lsrAt) * 65536 / time.Second)
		}
	}
	dst := s.remoteRTCP
	s.mu.Unlock()

	s.sendMu.Lock()
	sending := s.txPackets > 0
	pkts, octets := s.txPackets, s.txOctets
	rtpTS := s.txLastTS + uint32(now.Sub(s.txLastAt)*8000/time.Second)
	outC := s.srtcpOut
	ssrc := s.ssrc
	s.sendMu.Unlock()
	if !dst.IsValid() || dst.Port() == 0 {
		return
	}
	b := s.rtcpBuf[:0]
	rc := 0
	if haveRx {
		rc = 1
	}
	if sending {
		b = append(b, 0x80|byte(rc), rtcpSR, 0, byte(6+6*rc))
		b = binary.BigEndian.AppendUint32(b, ssrc)
		b = binary.BigEndian.AppendUint64(b, ntpTime(now))
		b = binary.BigEndian.AppendUint32(b, rtpTS)
		b = binary.BigEndian.AppendUint32(b, uint32(pkts))
		b = binary.BigEndian.AppendUint32(b, uint32(octets))
	} else {
		b = append(b, 0x80|byte(rc), rtcpRR, 0, byte(1+6*rc))
		b = binary.BigEndian.AppendUint32(b, ssrc)
	}
	if haveRx {
		b = binary.BigEndian.AppendUint32(b, remoteSSRC)
		b = binary.BigEndian.AppendUint32(b, uint32(fraction)<<24|uint32(cum)&0xffffff)
		b = binary.BigEndian.AppendUint32(b, ext)
		b = binary.BigEndian.AppendUint32(b, jit)
		b = binary.BigEndian.AppendUint32(b, lsr)
		b = binary.BigEndian.AppendUint32(b, dlsr)
	}
	// SDES with CNAME "xxxxxxxx@edgebridge": header 4, SSRC 4, item 2+19,
	// end 1 = 30, padded to 32 bytes: length 7 words after the first.
	const cnameLen = 19
	b = append(b, 0x81, rtcpSDES, 0, 7)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = append(b, 1, cnameLen)
	b = appendHex32(b, ssrc)
	b = append(b, "@edgebridge"...)
	b = append(b, 0, 0, 0)
	if bye {
		b = append(b, 0x81, rtcpBYE, 0, 1)
		b = binary.BigEndian.AppendUint32(b, ssrc)
	}
	if outC != nil {
		out, err := outC.EncryptRTCP(s.rtcpEnc[:0], b, nil)
		if err != nil {
			return
		}
		b = out
	}
	_, _ = s.rtcpC.WriteToUDPAddrPort(b, dst)
}

func appendHex32(b []byte, v uint32) []byte {
	const hex = "0123456789abcdef"
	for i := 28; i >= 0; i -= 4 {
		b = append(b, hex[(v>>uint(i))&0xf])
	}
	return b
}

// Stats is a snapshot of a session's counters (RFC 3550 Appendix A).
type Stats struct {
	Codec  string
	Remote netip.AddrPort // where RTP goes (latched, symmetric RTP)
	SRTP   bool

	PacketsSent, OctetsSent         uint64
	PacketsReceived, OctetsReceived uint64 // octets are payload octets (§6.4.1)
	// Expected and Lost follow A.3; Lost is cumulative and may be negative
	// with duplicates. FractionLost is of the last report interval, /256.
	Expected     uint64
	Lost         int64
	FractionLost uint8
	// Jitter is the interarrival jitter estimate of A.8.
	Jitter time.Duration

	Late, Duplicates, Resyncs uint64 // jitter buffer
	Concealed                 uint64 // frames handed out with nothing received
	Foreign                   uint64 // packets from another source, ignored
	Malformed, DecryptErrors  uint64
	UnknownPT                 uint64
	DigitsReceived            uint64
	DigitsDropped             uint64 // Digits channel full
	DigitsSent                uint64

	// What the far end reports about our stream in its RTCP.
	RemoteReport       bool
	RemoteFractionLost uint8
	RemoteLost         int32
	RemoteJitter       time.Duration
	RTT                time.Duration
	RemoteBye          bool

	LastReceived time.Time
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	st := Stats{
		Codec:              s.codec.String(),
		Remote:             s.remote,
		SRTP:               s.srtpIn != nil,
		PacketsReceived:    s.rxPackets,
		OctetsReceived:     s.rxOctets,
		Expected:           s.rx.expected(),
		Lost:               s.rx.lost(),
		FractionLost:       s.rx.fraction,
		Jitter:             time.Duration(s.rx.jitterTS()) * time.Second / 8000,
		Late:               s.jb.late,
		Duplicates:         s.jb.dups,
		Resyncs:            s.jb.resyncs,
		Concealed:          s.concealed,
		Foreign:            s.foreign,
		Malformed:          s.malformed,
		DecryptErrors:      s.decryptErr,
		UnknownPT:          s.unknownPT,
		DigitsReceived:     s.digitsIn,
		DigitsDropped:      s.digitsLost,
		RemoteReport:       s.remoteRep.valid,
		RemoteFractionLost: s.remoteRep.fraction,
		RemoteLost:         s.remoteRep.lost,
		RemoteJitter:       time.Duration(s.remoteRep.jitter) * time.Second / 8000,
		RTT:                s.remoteRep.rtt,
		RemoteBye:          s.remoteBye,
		LastReceived:       s.lastRx,
	}
	s.mu.Unlock()
	s.sendMu.Lock()
	st.PacketsSent, st.OctetsSent, st.DigitsSent = s.txPackets, s.txOctets, s.evTx.sent+s.inbandSent
	s.sendMu.Unlock()
	return st
}
