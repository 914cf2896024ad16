package media

// rxStats is the receiver state of RFC 3550 Appendix A for one source:
// sequence tracking (A.1), loss (A.3) and interarrival jitter (A.8).
type rxStats struct {
	ssrc     uint32
	started  bool
	maxSeq   uint16
	cycles   uint32 // shifted count of sequence number cycles
	baseSeq  uint32
	received uint64
	// for the fraction lost of each report interval (A.3)
	expectedPrior uint64
	receivedPrior uint64
	// jitter estimate scaled by 16 (A.8)
	jitter    uint32
	transit   int32
	haveTrans bool
	badSeq    uint32
	fraction  uint8
}

// maxDropout and maxMisorder are the A.1 limits for a 8 kHz stream.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

func (r *rxStats) init(ssrc uint32, seq uint16) {
	*r = rxStats{ssrc: ssrc, started: true, maxSeq: seq, baseSeq: uint32(seq), badSeq: seqMod + 1}
}

// update accounts one packet (A.1 update_seq) and its arrival, arrival
// being the local clock in RTP timestamp units (A.8). Packets whose
// timestamp is not their sampling instant (telephone events carry the event
// start) pass timed=false and stay out of the jitter estimate. It reports
// whether the packet belongs to the stream (false for a wild jump not yet
// confirmed).
func (r *rxStats) update(ssrc uint32, seq uint16, ts uint32, arrival uint32, timed bool) bool {
	if !r.started || ssrc != r.ssrc {
		r.init(ssrc, seq)
		r.received = 1
		r.transit, r.haveTrans = int32(arrival-ts), timed
		return true
	}
	udelta := seq - r.maxSeq
	switch {
	case udelta < maxDropout:
		if seq < r.maxSeq {
			r.cycles += seqMod // wrapped
		}
		r.maxSeq = seq
	case udelta <= seqMod-maxMisorder:
		// A very large jump: accept it only when the next packet follows it
		// (the sender restarted), as A.1 does.
		if uint32(seq) == r.badSeq {
			r.init(ssrc, seq)
		} else {
			r.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
	default:
		// duplicate or reordered packet: counted, does not move maxSeq
	}
	r.received++
	if !timed {
		return true
	}
	// A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si) = transit difference.
	transit := int32(arrival - ts)
	if r.haveTrans {
		d := transit - r.transit
		if d < 0 {
			d = -d
		}
		r.jitter += uint32(d) - ((r.jitter + 8) >> 4)
	}
	r.transit, r.haveTrans = transit, true
	return true
}

func (r *rxStats) extendedMax() uint32 { return r.cycles + uint32(r.maxSeq) }

func (r *rxStats) expected() uint64 {
	if !r.started {
		return 0
	}
	return uint64(r.extendedMax()) - uint64(r.baseSeq) + 1
}

// lost is the cumulative number of packets lost (A.3); duplicates can make
// it negative.
func (r *rxStats) lost() int64 { return int64(r.expected()) - int64(r.received) }

// jitterTS is the interarrival jitter in timestamp units.
func (r *rxStats) jitterTS() uint32 { return r.jitter >> 4 }

// interval closes a report interval and returns its fraction lost in 1/256
// (A.3) and the cumulative loss clamped to the 24-bit field.
func (r *rxStats) interval() (fraction uint8, cumLost int32) {
	expected := r.expected()
	expInt := int64(expected) - int64(r.expectedPrior)
	r.expectedPrior = expected
	recInt := int64(r.received) - int64(r.receivedPrior)
	r.receivedPrior = r.received
	lostInt := expInt - recInt
	if expInt <= 0 || lostInt <= 0 {
		r.fraction = 0
	} else {
		r.fraction = uint8(min((lostInt<<8)/expInt, 255))
	}
	l := r.lost()
	if l > 0x7fffff {
		l = 0x7fffff
	} else if l < -0x800000 {
		l = -0x800000
	}
	return r.fraction, int32(l)
}
