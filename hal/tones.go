package hal

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
)

// LineTones plays tones to whoever is off hook on the FXS line: the
// console's `tone play`, for a technician with a butt set (it satisfies
// console.Tones). It answers the line, plays, and hangs up; while an alarm
// call holds the line it refuses (ErrLineBusy).
type LineTones struct{ Line Line }

// Call-progress tones at the European common values (ETSI TR 101 041,
// ITU-T E.180 Suppl. 2): 425 Hz; and the alarm handshake frequencies.
var toneCadences = map[string][]dsp.ToneSegment{
	"dial":       {{Freq1: 425, DBm0: -10, Ms: 1000}},
	"busy":       {{Freq1: 425, DBm0: -10, Ms: 500}, {Ms: 500}},
	"ringback":   {{Freq1: 425, DBm0: -10, Ms: 1000}, {Ms: 4000}},
	"congestion": {{Freq1: 425, DBm0: -10, Ms: 250}, {Ms: 250}},
}

// PlayTone plays tone for d: dial, busy, ringback, congestion, a frequency
// in Hz (100-3900), or dtmf:DIGITS (d is then ignored).
func (t LineTones) PlayTone(ctx context.Context, tone string, d time.Duration) error {
	if t.Line == nil {
		return fmt.Errorf("this board has no FXS line")
	}
	var pcm []int16
	if keys, ok := strings.CutPrefix(tone, "dtmf:"); ok {
		var err error
		if pcm, err = dsp.AppendDTMF(nil, keys, dsp.DefaultDTMFGen()); err != nil {
			return err
		}
	} else {
		segs, ok := toneCadences[tone]
		if !ok {
			hz, err := strconv.ParseFloat(tone, 64)
			if err != nil || hz < 100 || hz > 3900 {
				return fmt.Errorf("unknown tone %q: want dial, busy, ringback, congestion, a frequency in Hz (100-3900) or dtmf:DIGITS", tone)
			}
			segs = []dsp.ToneSegment{{Freq1: hz, DBm0: -10, Ms: 1000}}
		}
		g, err := dsp.NewToneGenerator(true, segs...)
		if err != nil {
			return err
		}
		pcm = make([]int16, int(d.Seconds()*dsp.SampleRate))
		g.Generate(pcm)
	}
	if !t.Line.OffHook() {
		return fmt.Errorf("nobody is off hook on the line to hear it")
	}
	call, err := t.Line.Answer()
	if err != nil {
		return err
	}
	defer call.Hangup()
	// Pace at the line's rate: a SLIC's device would, a simulated line
	// would not, and the technician should hear d of tone either way.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	const frame = dsp.SampleRate / 50
	for len(pcm) > 0 {
		n := min(frame, len(pcm))
		if err := call.WriteFrame(pcm[:n]); err != nil {
			return err
		}
		pcm = pcm[n:]
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}
