package tt92

import (
	"fmt"

	"github.com/edgebridge/edgebridge/dsp"
)

// STMF (single-tone multi-frequency), the "sdmf" protocolMode of TT92: each
// key is its DTMF row tone, then its column tone, StmfToneMs each, StmfGapMs
// apart (one open-source receiver; unconfirmed).
const (
	StmfToneMs = 78
	StmfGapMs  = 5
)

var (
	stmfRows = [4]float64{697, 770, 852, 941}
	stmfCols = [4]float64{1209, 1336, 1477, 1633}
	dtmfKeys = [4][4]byte{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
)

// StmfSender sounds keys in STMF, frame by frame, allocating nothing after
// NewStmfSender.
type StmfSender struct {
	gens  [16]*dsp.ToneGenerator
	queue [64]byte
	qh    int
	qn    int
	cur   *dsp.ToneGenerator
}

// NewStmfSender prepares a generator per key at dBm0 per tone.
func NewStmfSender(dBm0 float64) (*StmfSender, error) {
	s := &StmfSender{}
	for r := range 4 {
		for c := range 4 {
			g, err := dsp.NewToneGenerator(false,
				dsp.ToneSegment{Freq1: stmfRows[r], DBm0: dBm0, Ms: StmfToneMs},
				dsp.ToneSegment{Ms: StmfGapMs},
				dsp.ToneSegment{Freq1: stmfCols[c], DBm0: dBm0, Ms: StmfToneMs},
				dsp.ToneSegment{Ms: StmfGapMs})
			if err != nil {
				return nil, err
			}
			s.gens[r*4+c] = g
		}
	}
	return s, nil
}

func keyIndex(k byte) int {
	for r := range 4 {
		for c := range 4 {
			if dtmfKeys[r][c] == k {
				return r*4 + c
			}
		}
	}
	return -1
}

// Queue adds keys to send.
func (s *StmfSender) Queue(keys string) error {
	if s.qn+len(keys) > len(s.queue) {
		return fmt.Errorf("tt92: STMF queue full")
	}
	for i := 0; i < len(keys); i++ {
		if keyIndex(keys[i]) < 0 {
			return fmt.Errorf("tt92: %q is not a DTMF key", keys[i])
		}
	}
	for i := 0; i < len(keys); i++ {
		s.queue[(s.qh+s.qn)%len(s.queue)] = keys[i]
		s.qn++
	}
	return nil
}

// Busy reports whether keys are sounding or queued.
func (s *StmfSender) Busy() bool { return s.cur != nil || s.qn > 0 }

// Generate fills pcm with the queued keys, then silence.
func (s *StmfSender) Generate(pcm []int16) {
	for len(pcm) > 0 {
		if s.cur == nil {
			if s.qn == 0 {
				clear(pcm)
				return
			}
			s.cur = s.gens[keyIndex(s.queue[s.qh])]
			s.qh = (s.qh + 1) % len(s.queue)
			s.qn--
			s.cur.Reset()
		}
		n := s.cur.Generate(pcm)
		if s.cur.Done() {
			s.cur = nil
		}
		pcm = pcm[n:]
	}
}

// KeySamples is how long one STMF key lasts.
const KeySamples = 2 * (StmfToneMs + StmfGapMs) * dsp.SampleRate / 1000

// StmfDetector hears STMF keys: a row tone followed within 40 ms by a
// column tone make the key. It allocates nothing after NewStmfDetector.
type StmfDetector struct {
	det     *dsp.ToneDetector
	row     int // pending row, −1 none
	rowFrom int64
	rowTo   int64
	emit    func(dsp.DigitEvent)
	onTone  func(dsp.ToneEvent)
}

// NewStmfDetector listens for the eight tones, each ≥ 40 ms, ±2 %.
func NewStmfDetector() (*StmfDetector, error) {
	var specs []dsp.ToneSpec
	for _, f := range stmfRows {
		specs = append(specs, dsp.ToneSpec{Name: "row", Freq1: f, Tolerance: 0.02, MinMs: 40})
	}
	for _, f := range stmfCols {
		specs = append(specs, dsp.ToneSpec{Name: "col", Freq1: f, Tolerance: 0.02, MinMs: 40})
	}
	det, err := dsp.NewToneDetector(specs...)
	if err != nil {
		return nil, err
	}
	s := &StmfDetector{det: det, row: -1}
	s.onTone = s.tone
	return s, nil
}

// Process feeds pcm and calls emit for each key heard.
func (s *StmfDetector) Process(pcm []int16, emit func(dsp.DigitEvent)) {
	s.emit = emit
	s.det.Process(pcm, s.onTone)
	s.emit = nil
}

func (s *StmfDetector) tone(ev dsp.ToneEvent) {
	if ev.On {
		return
	}
	if ev.Tone < 4 {
		s.row, s.rowFrom, s.rowTo = ev.Tone, ev.Start, ev.End
		return
	}
	gap := ev.Start - s.rowTo
	if s.row >= 0 && gap > -20*dsp.SampleRate/1000 && gap < 40*dsp.SampleRate/1000 && s.emit != nil {
		s.emit(dsp.DigitEvent{Key: dtmfKeys[s.row][ev.Tone-4], Start: s.rowFrom, End: ev.End})
	}
	s.row = -1
}

// StmfDigits finds the STMF keys in a recording.
func StmfDigits(pcm []int16) ([]dsp.DigitEvent, error) {
	det, err := NewStmfDetector()
	if err != nil {
		return nil, err
	}
	var out []dsp.DigitEvent
	emit := func(ev dsp.DigitEvent) { out = append(out, ev) }
	for i := 0; i < len(pcm); i += 160 {
		det.Process(pcm[i:min(i+160, len(pcm))], emit)
	}
	det.Flush(emit)
	return out, nil
}

// Flush ends a tone still sounding at the end of the recording and pairs
// it as Process would.
func (s *StmfDetector) Flush(emit func(dsp.DigitEvent)) {
	s.emit = emit
	s.det.Flush(s.onTone)
	s.emit = nil
}
