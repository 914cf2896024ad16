package pcap

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
)

// mixWindow is how far (in samples, 8.2 s) a packet may arrive out of
// order and still be placed; it must hold the largest UDP payload. Each
// stream mixed keeps one window of samples.
const mixWindow = 1 << 16

// maxMixStreams bounds the G.711 streams a Mixer adds up (a window each).
const maxMixStreams = 16

// Mixer reads every G.711 stream of a capture on one time line (by capture
// time) and mixes them, as a call recorder would hear both sides of a call,
// in constant memory: it reads the capture twice, once to learn where each
// stream lies and once to place its packets in a sliding window. Packets
// later than the window are dropped; lost ones are silence.
type Mixer struct {
	sc      *scanned
	rp      *replayer
	offs    map[*scanStream]int64 // where each stream's sample 0 lies
	rings   map[*scanStream][]int16
	order   []*scanStream
	start   time.Time
	total   int64
	emitted int64 // samples returned so far
	ready   int64 // samples that no packet still to come can change
	done    bool
	// a packet read but too far ahead to place until the window moves
	pend   *scanStream
	pendAt int64
	pendPT uint8
	pendB  []byte
}

// NewMixer scans the capture in rs and positions it for the second pass.
func NewMixer(rs io.ReadSeeker) (*Mixer, error) {
	sc, err := scanCapture(rs)
	if err != nil {
		return nil, err
	}
	m := &Mixer{sc: sc, offs: map[*scanStream]int64{}, rings: map[*scanStream][]int16{}, start: sc.streams[0].st.Start}
	for _, s := range sc.streams[1:] {
		if s.st.Start.Before(m.start) {
			m.start = s.st.Start
		}
	}
	for _, s := range sc.streams {
		// Divided, not multiplied first: streams weeks apart would overflow.
		off := int64(s.st.Start.Sub(m.start) / (time.Second / dsp.SampleRate))
		m.offs[s] = off
		m.total = max(m.total, off+s.hi-s.lo)
		if s.audio {
			m.order = append(m.order, s)
		}
	}
	if m.total > MaxStreamSamples {
		return nil, fmt.Errorf("pcap: %d streams span %d samples, more than %d (4 h)", len(sc.streams), m.total, MaxStreamSamples)
	}
	if len(m.order) > maxMixStreams {
		return nil, fmt.Errorf("pcap: %d G.711 streams, more than %d to mix", len(m.order), maxMixStreams)
	}
	for _, s := range m.order {
		m.rings[s] = make([]int16, mixWindow)
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if m.rp, err = sc.replay(rs); err != nil {
		return nil, err
	}
	return m, nil
}

// Streams are the G.711 streams mixed, without their samples, in order of
// their first packet.
func (m *Mixer) Streams() []*Stream {
	out := make([]*Stream, len(m.sc.streams))
	for i, s := range m.sc.streams {
		out[i] = s.st
	}
	return out
}

// Start is the capture time of sample 0 of the mixed time line.
func (m *Mixer) Start() time.Time { return m.start }

// Read fills pcm with the next samples of the mix; it returns io.EOF after
// the last one.
func (m *Mixer) Read(pcm []int16) (int, error) {
	n := 0
	for n < len(pcm) {
		if m.emitted < m.ready {
			k := min(m.ready-m.emitted, int64(len(pcm)-n))
			m.emit(pcm[n : n+int(k)])
			n += int(k)
			continue
		}
		if m.pend != nil {
			m.place(m.pend, m.pendAt, m.pendPT, m.pendB)
			m.pend = nil
			continue
		}
		if m.done {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		s, at, pt, b, err := m.rp.next()
		if err == io.EOF {
			m.done, m.ready = true, m.total
			continue
		}
		if err != nil {
			return n, err
		}
		at += m.offs[s]
		end := at + int64(len(b))
		if end > m.emitted+mixWindow {
			// The payload stays valid: nothing is read until it is placed.
			m.pend, m.pendAt, m.pendPT, m.pendB = s, at, pt, b
		} else {
			m.place(s, at, pt, b)
		}
		m.ready = max(m.ready, end-mixWindow)
	}
	return n, nil
}

// Events are the RFC 4733 events of all streams on the mixed time line, in
// order of start; complete once Read has returned io.EOF.
func (m *Mixer) Events() []dsp.DigitEvent {
	var out []dsp.DigitEvent
	for _, s := range m.sc.streams {
		for _, e := range s.finish().Events {
			e.Start += m.offs[s]
			e.End += m.offs[s]
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b dsp.DigitEvent) int { return int(a.Start - b.Start) })
	return out
}

// place decodes a packet into its stream's window; what lies before the
// samples already returned is too late and dropped.
func (m *Mixer) place(s *scanStream, at int64, pt uint8, b []byte) {
	if skip := m.emitted - at; skip > 0 {
		if skip >= int64(len(b)) {
			return
		}
		at, b = m.emitted, b[skip:]
	}
	ring := m.rings[s]
	i := int(at % mixWindow)
	k := min(len(b), mixWindow-i)
	decodeG711(ring[i:i+k], b[:k], pt)
	decodeG711(ring[:len(b)-k], b[k:], pt)
}

// emit sums the windows into out and clears what it took.
func (m *Mixer) emit(out []int16) {
	i := int(m.emitted % mixWindow)
	for len(out) > 0 {
		k := min(len(out), mixWindow-i)
		if len(m.order) == 1 {
			ring := m.rings[m.order[0]][i : i+k]
			copy(out, ring)
			clear(ring)
		} else {
			clear(out[:k])
			for _, s := range m.order {
				ring := m.rings[s][i : i+k]
				for j, v := range ring {
					out[j] = int16(max(-32768, min(32767, int32(out[j])+int32(v))))
				}
				clear(ring)
			}
		}
		out, i = out[k:], 0
		m.emitted += int64(k)
	}
}
