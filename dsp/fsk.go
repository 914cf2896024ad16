package dsp

import (
	"errors"
	"fmt"
	"math"
)

// FSKStandard selects the tone pair of a 1200 baud FSK modem.
type FSKStandard int

const (
	// Bell202: mark 1200 Hz, space 2200 Hz.
	Bell202 FSKStandard = iota + 1
	// V23: ITU-T V.23 forward channel, mark 1300 Hz, space 2100 Hz.
	V23
)

func (s FSKStandard) freqs() (mark, space float64) {
	if s == V23 {
		return 1300, 2100
	}
	return 1200, 2200
}

func (s FSKStandard) String() string {
	switch s {
	case Bell202:
		return "bell202"
	case V23:
		return "v23"
	}
	return fmt.Sprintf("FSKStandard(%d)", int(s))
}

// Caller-ID style message types (ETSI EN 300 659-3, Bellcore GR-30).
const (
	FSKTypeSDMF = 0x04 // single data message format
	FSKTypeMDMF = 0x80 // multiple data message format
)

// fskTable is the length after which all four carriers repeat exactly at
// 8 kHz: 1200·80/8000 = 12, 2200 → 22, 1300 → 13, 2100 → 21 cycles.
const fskTable = 80

// fskWin is the correlation window, a little over one bit (6.67
// samples); 8 gave the fewest errors at 9 dB S/N (7 was much worse).
const fskWin = 8

// FSKConfig sets up an FSKDemodulator.
type FSKConfig struct {
	Standard FSKStandard // default Bell202
	// MinDBm0 is the weakest carrier that counts; default −40 dBm0.
	MinDBm0 float64
	// MinMarkBits is how many mark bits must precede the message type
	// byte; default 40 (senders send 80–180 after the channel seizure).
	MinMarkBits int
}

// FSKMessage is a framed message: type, length, data, checksum.
type FSKMessage struct {
	Type byte
	// Data aliases the demodulator's buffer: valid during the callback.
	Data []byte
	// ChecksumOK: the two's complement checksum matched (the sum of all
	// bytes from type to checksum is 0 mod 256).
	ChecksumOK bool
	Seizure    int   // 0x55 channel-seizure bytes heard before the mark
	Start, End int64 // samples: first bit of the type byte, end of checksum
}

// FSKDemodulator turns 1200 baud FSK audio into bytes and framed messages.
// Frames may have any length; it allocates nothing after construction.
type FSKDemodulator struct {
	fskConst

	ph    int // table phase
	ring  [fskWin][5]float64
	ri    int
	acc   [5]float64 // sliding sums: mark I, mark Q, space I, space Q, energy
	pos   int64
	fresh int // samples since reset (window filling)

	// UART
	inByte   bool
	clock    int // in 1/20 bit: one sample is 3/20 bit (8000/1200 = 20/3)
	bitIdx   int
	shift    byte
	byteAt   int64
	markRun  int // consecutive mark samples while idle
	needMark bool

	// framing
	seizure   int
	markSeen  bool
	state     int // 0 hunt, 1 length, 2 data, 3 checksum
	msg       [258]byte
	mlen, got int
	msgStart  int64
	gap       int // samples since the last byte inside a message
}

// fskConst is what NewFSKDemodulator derives from the configuration.
type fskConst struct {
	cfg            FSKConfig
	mc, ms, sc, ss [fskTable]float64 // mark/space cos, sin
	minE           float64
}

// NewFSKDemodulator returns a demodulator for cfg.
func NewFSKDemodulator(cfg FSKConfig) *FSKDemodulator {
	if cfg.Standard == 0 {
		cfg.Standard = Bell202
	}
	if cfg.MinDBm0 == 0 {
		cfg.MinDBm0 = -40
	}
	if cfg.MinMarkBits == 0 {
		cfg.MinMarkBits = 40
	}
	d := &FSKDemodulator{fskConst: fskConst{cfg: cfg}}
	mark, space := cfg.Standard.freqs()
	for k := range fskTable {
		d.mc[k] = math.Cos(2 * math.Pi * mark * float64(k) / SampleRate)
		d.ms[k] = math.Sin(2 * math.Pi * mark * float64(k) / SampleRate)
		d.sc[k] = math.Cos(2 * math.Pi * space * float64(k) / SampleRate)
		d.ss[k] = math.Sin(2 * math.Pi * space * float64(k) / SampleRate)
	}
	a := Amplitude(cfg.MinDBm0)
	d.minE = a * a / 2 * fskWin
	return d
}

// Reset forgets all state; sample counting restarts at 0.
func (d *FSKDemodulator) Reset() {
	*d = FSKDemodulator{fskConst: d.fskConst}
}

// Process feeds pcm; emit (if not nil) gets each framed message.
func (d *FSKDemodulator) Process(pcm []int16, emit func(FSKMessage)) {
	// The sliding sums live in locals; the ring holds each sample's five
	// products so that the one leaving the window can be taken off.
	mc, ms, sc, ss := &d.mc, &d.ms, &d.sc, &d.ss
	a0, a1, a2, a3, a4 := d.acc[0], d.acc[1], d.acc[2], d.acc[3], d.acc[4]
	ph, ri := d.ph, d.ri
	for _, s := range pcm {
		v := float64(s)
		p0, p1, p2, p3, p4 := v*mc[ph], v*ms[ph], v*sc[ph], v*ss[ph], v*v
		r := &d.ring[ri&(fskWin-1)]
		a0 += p0 - r[0]
		a1 += p1 - r[1]
		a2 += p2 - r[2]
		a3 += p3 - r[3]
		a4 += p4 - r[4]
		*r = [5]float64{p0, p1, p2, p3, p4}
		ri++
		ph++
		if ph == fskTable {
			ph = 0
		}
		d.pos++
		if d.fresh < fskWin {
			d.fresh++
			continue
		}
		carrier := a4 >= d.minE
		if !carrier && d.state == 0 && !d.inByte && d.markRun == 0 && d.seizure == 0 && !d.markSeen && !d.needMark {
			continue // idle line: nothing to do
		}
		d.sample(carrier, a0*a0+a1*a1 >= a2*a2+a3*a3, emit)
	}
	d.ph, d.ri = ph, ri&(fskWin-1)
	d.acc = [5]float64{a0, a1, a2, a3, a4}
	// Limit drift of the sliding sums: recompute them now and then.
	if d.pos%4096 < int64(len(pcm)) {
		d.acc = [5]float64{}
		for _, r := range d.ring {
			for j := range 5 {
				d.acc[j] += r[j]
			}
		}
	}
}

// sample runs the UART (start bit, 8 data bits LSB first, stop bit) on one
// demodulated sample.
func (d *FSKDemodulator) sample(carrier, mark bool, emit func(FSKMessage)) {
	if d.state != 0 {
		d.gap++
		if !carrier || d.gap > 30*20/3 { // 30 bit times without a byte: give up
			d.state = 0
			d.markSeen = false
			d.seizure = 0
		}
	}
	if !carrier {
		d.inByte = false
		d.markRun = 0
		d.needMark = false
		if d.state == 0 {
			d.seizure = 0
			d.markSeen = false
		}
		return
	}
	if !d.inByte {
		if mark {
			d.needMark = false
			d.markRun++
			if d.markRun*3/20 >= d.cfg.MinMarkBits && d.state == 0 {
				d.markSeen = true
			}
			return
		}
		if d.needMark {
			return
		}
		// Start bit edge.
		d.inByte = true
		d.clock = 0
		d.bitIdx = 0
		d.shift = 0
		d.byteAt = d.pos - fskWin/2 - 1
		d.markRun = 0
		return
	}
	d.clock += 3
	// Sampling point 8/20 of a bit after the detected edge: the best in a
	// sweep at 9 dB S/N (the decision lags both edges alike, by about
	// half the window).
	target := 20*d.bitIdx + 8
	if d.clock < target {
		return
	}
	switch {
	case d.bitIdx == 0:
		if mark { // glitch, not a start bit
			d.inByte = false
			return
		}
	case d.bitIdx <= 8:
		if mark {
			d.shift |= 1 << (d.bitIdx - 1)
		}
	default:
		d.inByte = false
		if !mark { // framing error: wait for a mark before the next start
			d.needMark = true
			d.byteErr()
			return
		}
		d.onByte(d.shift, emit)
		return
	}
	d.bitIdx++
}

func (d *FSKDemodulator) byteErr() {
	if d.state != 0 {
		d.state = 0
		d.markSeen = false
		d.seizure = 0
	}
}

func (d *FSKDemodulator) onByte(b byte, emit func(FSKMessage)) {
	d.gap = 0
	switch d.state {
	case 0:
		if !d.markSeen {
			// Channel seizure: count 0x55 bytes; the first and last may be
			// misframed at the edges of the carrier, so others do not reset
			// the count.
			if b == 0x55 {
				d.seizure++
			}
			return
		}
		d.msg[0] = b
		d.msgStart = d.byteAt
		d.state = 1
	case 1:
		d.msg[1] = b
		d.mlen = int(b)
		d.got = 0
		d.state = 2
		if d.mlen == 0 {
			d.state = 3
		}
	case 2:
		d.msg[2+d.got] = b
		d.got++
		if d.got == d.mlen {
			d.state = 3
		}
	case 3:
		var sum byte
		for _, x := range d.msg[:2+d.mlen] {
			sum += x
		}
		sum += b
		if emit != nil {
			emit(FSKMessage{Type: d.msg[0], Data: d.msg[2 : 2+d.mlen], ChecksumOK: sum == 0,
				Seizure: d.seizure, Start: d.msgStart, End: d.pos - fskWin/2})
		}
		d.state = 0
		d.markSeen = false
		d.seizure = 0
	}
}

// MDMFParams calls fn for each parameter (type, value) of an MDMF
// message body (ETSI EN 300 659-3 §5.4: type, length, value).
func MDMFParams(data []byte, fn func(typ byte, val []byte)) error {
	for i := 0; i < len(data); {
		if i+2 > len(data) {
			return fmt.Errorf("dsp: MDMF parameter at %d: header cut short", i)
		}
		t, l := data[i], int(data[i+1])
		if i+2+l > len(data) {
			return fmt.Errorf("dsp: MDMF parameter %#02x at %d: length %d, %d bytes left", t, i, l, len(data)-i-2)
		}
		fn(t, data[i+2:i+2+l])
		i += 2 + l
	}
	return nil
}

// FSKModulator sends framed messages as phase-continuous 1200 baud FSK,
// frame by frame into caller buffers.
type FSKModulator struct {
	std   FSKStandard
	amp   float64
	bits  [4096]byte // one byte per bit (0 space, 1 mark)
	nbits int
	at    int // bit being sent
	clock int // 1/20 bit units into it
	phase float64
}

// NewFSKModulator returns an idle modulator sending at dBm0.
func NewFSKModulator(std FSKStandard, dBm0 float64) *FSKModulator {
	if std == 0 {
		std = Bell202
	}
	return &FSKModulator{std: std, amp: Amplitude(dBm0)}
}

// ErrFSKBusy is returned by Queue while a message is being sent.
var ErrFSKBusy = errors.New("dsp: FSK modulator busy")

// Queue prepares one message: seizure bytes of 0x55, markBits of mark,
// then type, length, data and checksum (8N1, LSB first), then a few mark
// bits so that the last stop bit is heard whole.
func (m *FSKModulator) Queue(msgType byte, data []byte, seizure, markBits int) error {
	if m.Busy() {
		return ErrFSKBusy
	}
	if len(data) > 255 || seizure < 0 || seizure > 64 || markBits < 0 || markBits > 300 {
		return fmt.Errorf("dsp: FSK message: data %d bytes (max 255), seizure %d bytes (max 64), mark %d bits (max 300)", len(data), seizure, markBits)
	}
	m.nbits, m.at, m.clock = 0, 0, 0
	for range seizure {
		m.putByte(0x55)
	}
	for range markBits {
		m.bits[m.nbits] = 1
		m.nbits++
	}
	sum := msgType + byte(len(data))
	m.putByte(msgType)
	m.putByte(byte(len(data)))
	for _, b := range data {
		m.putByte(b)
		sum += b
	}
	m.putByte(-sum)
	for range 4 {
		m.bits[m.nbits] = 1
		m.nbits++
	}
	return nil
}

func (m *FSKModulator) putByte(b byte) {
	m.bits[m.nbits] = 0
	for i := range 8 {
		m.bits[m.nbits+1+i] = b >> i & 1
	}
	m.bits[m.nbits+9] = 1
	m.nbits += 10
}

// Busy reports whether bits remain to be sent.
func (m *FSKModulator) Busy() bool { return m.at < m.nbits }

// Generate fills pcm with the message (silence once it is sent) and returns
// how many samples carried it.
func (m *FSKModulator) Generate(pcm []int16) int {
	mark, space := m.std.freqs()
	for i := range pcm {
		if m.at >= m.nbits {
			clear(pcm[i:])
			return i
		}
		f := space
		if m.bits[m.at] == 1 {
			f = mark
		}
		pcm[i] = clip16(m.amp * math.Sin(2*math.Pi*m.phase))
		m.phase += f / SampleRate
		if m.phase >= 1 {
			m.phase--
		}
		m.clock += 3
		if m.clock >= 20 {
			m.clock -= 20
			m.at++
		}
	}
	return len(pcm)
}
