package media

import (
	"net/netip"
	"time"
)

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
	Malformed, DecryptErrors  uint64 // RTP and RTCP
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

// Stats returns the session's counters, each part's under its own lock.
func (s *Session) Stats() Stats {
	var st Stats
	r := &s.in
	r.mu.Lock()
	st.Codec, st.Remote, st.SRTP = r.codec.String(), r.remote, r.srtp != nil
	st.PacketsReceived, st.OctetsReceived = r.counters.packets, r.counters.octets
	st.Expected, st.Lost, st.FractionLost = r.stats.expected(), r.stats.lost(), r.stats.fraction
	st.Jitter = time.Duration(r.stats.jitterTS()) * time.Second / 8000
	st.Late, st.Duplicates, st.Resyncs = r.jb.late, r.jb.dups, r.jb.resyncs
	st.Concealed, st.Foreign = r.concealed, r.counters.foreign
	st.Malformed, st.DecryptErrors, st.UnknownPT = r.counters.malformed, r.counters.decryptErr, r.counters.unknownPT
	st.DigitsReceived, st.DigitsDropped = r.counters.digitsIn, r.counters.digitsLost
	st.LastReceived = r.lastRx
	r.mu.Unlock()

	c := &s.rtcp
	c.mu.Lock()
	st.Malformed += c.malformed
	st.DecryptErrors += c.decrypt
	st.RemoteReport, st.RemoteFractionLost, st.RemoteLost = c.report.valid, c.report.fraction, c.report.lost
	st.RemoteJitter = time.Duration(c.report.jitter) * time.Second / 8000
	st.RTT, st.RemoteBye = c.report.rtt, c.bye
	c.mu.Unlock()

	t := &s.out
	t.mu.Lock()
	st.PacketsSent, st.OctetsSent, st.DigitsSent = t.packets, t.octets, t.ev.sent+t.inbandSent
	t.mu.Unlock()
	return st
}
