// Package media carries the audio of a call leg: RTP sessions over UDP with
// symmetric RTP (github.com/pion/rtp), SRTP keyed by SDES
// (github.com/pion/srtp/v3: AES_CM_128_HMAC_SHA1_80 and _32,
// AEAD_AES_128_GCM), a fixed-delay jitter buffer suited to tones, RFC 4733
// telephone events both ways (RFC 2198 redundancy on receive), in-band DTMF
// detection and generation and G.711 through dsp, RTCP reports with the
// statistics of RFC 3550 Appendix A, RTP timeout, and the bridging of two
// legs with transcoding.
//
// A Session satisfies the alarm Channel (ReadFrame, WriteFrame, Digits,
// SendDigit, Hangup) without importing alarm. A leg's life:
//
//	s, err := media.NewSession(media.SessionConfig{Pool: pool, LocalIP: ip, Mode: media.Data})
//	ans, neg, err := sdp.Answer(offer, sdp.Capabilities{Addr: ip, Port: int(s.LocalAddr().Port()), ...})
//	err = s.Apply(neg) // again after each re-INVITE
//	err = s.Start()
//	... ReadFrame/WriteFrame lock-step, or media.Bridge(ctx, s, other)
//	s.Close() // on BYE; OnEnd tells the signalling layer about Hangup and RTP timeout
//
// Time: ReadFrame is paced by the wall clock (one 20 ms frame per 20 ms,
// concealment when nothing arrived), and the samples it hands out are the
// leg's sample time; digit events (RFC 4733 and in-band) are stamped in it.
// The jitter buffer plays a fixed delay behind the first packet (40 ms
// Voice, 60 ms Data); it re-centres on a timestamp jump or on three late
// packets in a row, so a sender clock that drifts costs one glitch per
// drift of the delay, not a growing delay. A far end that ran ahead (it
// sent a burst, catching up after a stall) leaves the buffer holding more
// than its delay: an on-time reader drops silence inside gaps (a gap keeps
// three frames) until it holds the delay again, and a first read after
// audio has arrived starts at the newest of it, so neither becomes latency
// for the rest of the call.
//
// Caveats: packets go out in the far end's a=ptime when it asks for 10 to
// 60 ms (frames are cut or joined; any ptime is received), else one per
// frame; rtcp-mux is received but not negotiated; SRTP
// keys with an MKI are declined in SDP; Bridge relays RFC 4733 digits live
// to a leg with telephone-event, and to a leg without plays them in-band
// once they end, with their duration (or hands them to the function given
// with DigitsTo, e.g. to send SIP INFO); DTMF heard in-band crosses a bridge
// as audio.
//
// A Session's state is split by path, each part with its own lock: the
// receive path (recv.go: packets in, and ReadFrame's playout), the send path
// (send.go: WriteFrame, SendDigit) and RTCP (rtcp.go). RTCP packets are
// encoded and parsed by github.com/pion/rtcp; the statistics they carry are
// computed here (rtpstats.go, RFC 3550 Appendix A).
//
// Goroutines: the runtime never frees a goroutine's descriptor and keeps
// free goroutines' stacks, so every goroutine a flood's peak made stays in
// RSS for good. A started session runs one, the reader of its RTP socket;
// a timer once a second sends the RTCP reports, watches the RTP timeout and
// on Linux reads the RTCP socket without waiting, whose datagrams the
// kernel stamps on arrival so that a report read up to a second late still
// gives the exact round trip (elsewhere a second goroutine reads RTCP).
// Bridge and BridgeLeg carry one direction on their caller's goroutine and
// the other on one of their own.
//
// Ports: a session's RTP/RTCP pair comes from the PortPool of the
// --rtp-ports range. A released pair stays bound and is handed out again
// after a 1 s quarantine, drained of what arrived meanwhile (binding and
// closing four sockets per B2BUA call was a tenth of its CPU); up to half
// the range, at most 512 pairs, wait idle (more only just after calls
// dropped), and a pair idle for 10 s is closed. A session that never sent RTP or RTCP leaves without an
// RTCP BYE (RFC 3550 §6.3.7).
//
// The packet paths allocate nothing per packet or frame (asserted by the
// tests): receive → SRTP → jitter buffer → G.711 → DTMF detector, and
// WriteFrame → G.711 → SRTP → sendto. RTCP, a packet each way every few
// seconds, allocates as it encodes and parses. SessionConfig.Tap (a call's
// capture, engine/pcap.Capture) sees each datagram of the RTP socket as it
// crossed the wire; nil by default, and a copy into a buffer made once when
// set.
//
// It imports dsp, engine/sdp and engine/udpstamp of ours, and the pion RTP, RTCP and SRTP
// packages; never alarm.
package media
