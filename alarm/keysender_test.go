package alarm_test

import (
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// sentKeys records SendDigit calls with the frame they were made in.
type sentKeys struct {
	scripted
	frame int
	keys  []byte
	at    []int // frame of each key
	ms    []int
}

func (c *sentKeys) SendDigit(key byte, ms int) error {
	c.keys = append(c.keys, key)
	c.at = append(c.at, c.frame)
	c.ms = append(c.ms, ms)
	return nil
}

func genConfig() dsp.DTMFGenConfig {
	cfg := dsp.DefaultDTMFGen()
	cfg.OnMs, cfg.OffMs = 50, 50
	return cfg
}

// Out of band, each key goes as the frame it starts in is written (keys
// every 100 ms: frames 0, 5, 10 of 20 ms), and the audio stays silent.
func TestKeySenderOutOfBand(t *testing.T) {
	ch := &sentKeys{scripted: scripted{digits: make(chan dsp.DigitEvent)}}
	k := alarm.NewKeySender(ch, genConfig())
	var now int64 = 3 * alarm.FrameSamples
	if end := k.Send("12#", now); end != now+2*800+400 {
		t.Fatalf("end %d, want %d (two 100 ms periods and a 50 ms key)", end, now+2*800+400)
	}
	out := make([]int16, alarm.FrameSamples)
	for ch.frame = 0; ch.frame < 15; ch.frame++ {
		out[7] = 1
		if err := k.Fill(out, now); err != nil {
			t.Fatal(err)
		}
		if dsp.LevelDBm0(out) > -90 {
			t.Fatalf("frame %d not silent", ch.frame)
		}
		now += alarm.FrameSamples
	}
	if string(ch.keys) != "12#" || ch.at[0] != 0 || ch.at[1] != 5 || ch.at[2] != 10 || ch.ms[0] != 50 {
		t.Errorf("sent %q in frames %v for %v ms, want 12# in frames 0, 5, 10 for 50 ms", ch.keys, ch.at, ch.ms)
	}
}

// In band, the keys are tone in the frames written, at the configured
// timing: a detector hears them where Send said they would be.
func TestKeySenderInBand(t *testing.T) {
	ch := &scripted{}
	k := alarm.NewKeySender(ch, genConfig())
	end := k.Send("4A", 0)
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	var got []dsp.DigitEvent
	out := make([]int16, alarm.FrameSamples)
	for now := int64(0); now < 3200; now += alarm.FrameSamples {
		if err := k.Fill(out, now); err != nil {
			t.Fatal(err)
		}
		det.Process(out, func(ev dsp.DigitEvent) { got = append(got, ev) })
	}
	if len(got) != 2 || got[0].Key != '4' || got[1].Key != 'A' {
		t.Fatalf("heard %+v, want 4 then A", got)
	}
	if d := got[1].End - end; d < -80 || d > 80 {
		t.Errorf("last key ends at %d, Send said %d", got[1].End, end)
	}
}
