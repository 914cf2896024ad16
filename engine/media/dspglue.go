package media

// inbandDetector finds DTMF in received frames (dsp) and emits DigitEvents
// in ReadFrame sample time.
// TODO(media): wire to the dsp DTMF detector as soon as it lands.
type inbandDetector interface {
	process(pcm []int16, s *Session)
}

func newInbandDetector() inbandDetector { return nil }

// toneGenerator renders a DTMF key in-band (dsp); offset is the sample
// index within the tone so that frames join without a phase jump.
type toneGenerator interface {
	tone(key byte, dst []int16, offset int64)
}

type silentGenerator struct{}

func (silentGenerator) tone(key byte, dst []int16, offset int64) { clear(dst) }

func newToneGenerator() toneGenerator { return silentGenerator{} }
