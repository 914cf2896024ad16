package media

// BufferMode picks how the jitter buffer plays out and conceals.
type BufferMode uint8

// Buffer modes.
const (
	// Voice: 40 ms fixed delay; a lost frame repeats the last one once,
	// attenuated by 6 dB, then silence, so a tone is never extended by more
	// than one frame.
	Voice BufferMode = iota
	// Data: 60 ms fixed delay for alarm calls (DTMF and FSK signalling);
	// a lost frame is silence, never a repeat, so no tone or bit is invented.
	Data
)

// ringSize is the jitter buffer length in samples (1.024 s: the longest
// delay, 400 ms, plus 600 ms of packets arriving early); a power of two so
// that RTP timestamps index it directly across their wrap.
const (
	ringSize = 8192
	ringMask = ringSize - 1
)

// jitterBuffer holds G.711 code words by RTP timestamp and hands them out at
// a fixed delay behind the first packet. Reordered packets fall into their
// place; late ones are dropped. It works in samples, so packets of any ptime
// mix freely.
type jitterBuffer struct {
	// ring is made when the first packet arrives: a session whose RTP
	// never comes (a bridged leg whose peer sends none, a call refused
	// right after setup) does not carry its 40 KB, which at hundreds of
	// calls a second was most of what the B2BUA allocated.
	ring *jitterRing

	started bool
	playTS  uint32 // timestamp of the next sample to hand out
	top     uint32 // timestamp just past the newest sample stored
	origin  uint32 // timestamp the buffer (re)started on; before it is pre-roll
	delay   uint32 // samples
	lateRun int    // consecutive late packets
	late    uint64
	dups    uint64
	resyncs uint64
}

// jitterRing holds the samples; see jitterBuffer.ring.
type jitterRing struct {
	data  [ringSize]byte
	stamp [ringSize]uint32 // RTP timestamp of the sample in data; a mismatch means missing
}

func (j *jitterBuffer) reset(ts uint32) {
	if j.ring == nil {
		j.ring = new(jitterRing)
	}
	j.started = true
	j.playTS = ts - j.delay
	j.origin = ts
	j.top = ts
	j.lateRun = 0
	// Stamp every slot with a timestamp one ring behind the window, so no
	// slot matches a timestamp we will ask for.
	for i := range uint32(ringSize) {
		t := j.playTS + i
		j.ring.stamp[t&ringMask] = t - ringSize
	}
}

// put stores the code words of one packet whose first sample has timestamp
// ts. marker is the RTP marker bit (start of a talkspurt).
func (j *jitterBuffer) put(ts uint32, payload []byte, marker bool) {
	n := len(payload)
	if n == 0 || n > ringSize/2 {
		return
	}
	if !j.started {
		j.reset(ts)
	}
	d := int32(ts - j.playTS)
	switch {
	case d < 0:
		j.late++
		j.lateRun++
		// A sender whose clock runs slow, or a new talkspurt after a jump
		// backwards, keeps landing late: re-centre instead of dropping all.
		if j.lateRun < 3 && !marker {
			return
		}
		j.resyncs++
		j.reset(ts)
	case int(d)+n > ringSize:
		// Too far ahead (timestamp jump, new stream): re-centre on it.
		j.resyncs++
		j.reset(ts)
	default:
		j.lateRun = 0
	}
	if end := ts + uint32(n); int32(end-j.top) > 0 {
		j.top = end
	}
	for k := range uint32(n) {
		t := ts + k
		i := t & ringMask
		if j.ring.stamp[i] == t {
			j.dups++
			return
		}
		j.ring.data[i] = payload[k]
		j.ring.stamp[i] = t
	}
}

// backlog is how many samples the buffer holds beyond its delay: what a
// reader that fell behind can still catch up. After the buffer re-centred
// on a packet far ahead (put), it is what came since.
func (j *jitterBuffer) backlog() int64 {
	if !j.started {
		return 0
	}
	return max(0, int64(int32(j.top-j.playTS))-int64(j.delay))
}

// skip drops n samples of playout: those a reader that stalled for longer
// than the buffer can make up no longer wants, so that it hears what
// arrives now at the usual delay.
func (j *jitterBuffer) skip(n int64) {
	if !j.started || n <= 0 {
		return
	}
	j.playTS += uint32(min(n, ringSize))
}

// peek is get without taking: dst gets the next len(dst) code words.
func (j *jitterBuffer) peek(dst []byte, silence byte) {
	j.get(dst, silence)
	j.playTS -= uint32(len(dst))
}

// get fills dst with the next len(dst) code words, writing silence where a
// sample is missing, and says how many samples were present.
func (j *jitterBuffer) get(dst []byte, silence byte) (present int) {
	if !j.started {
		for i := range dst {
			dst[i] = silence
		}
		return 0
	}
	for k := range dst {
		t := j.playTS + uint32(k)
		i := t & ringMask
		if j.ring.stamp[i] == t {
			dst[k] = j.ring.data[i]
			present++
		} else {
			dst[k] = silence
		}
	}
	j.playTS += uint32(len(dst))
	return present
}
