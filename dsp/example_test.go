package dsp_test

import (
	"fmt"

	"github.com/edgebridge/edgebridge/dsp"
)

// A panel's Contact ID digits, 55 ms on and off, through A-law, fed in
// 20 ms frames as an RTP session or FXS line delivers them.
func ExampleDTMFDetector() {
	cfg := dsp.DefaultDTMFGen()
	cfg.OnMs, cfg.OffMs = 55, 55
	pcm, _ := dsp.AppendDTMF(make([]int16, 400), "123418113001015B", cfg)
	alaw := make([]byte, len(pcm))
	dsp.AlawEncode(alaw, pcm)

	d := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	var keys []byte
	emit := func(e dsp.DigitEvent) { keys = append(keys, e.Key) } // made once: Process does not allocate
	frame := make([]int16, 160)
	for i := 0; i < len(alaw); i += 160 {
		n := dsp.AlawDecode(frame, alaw[i:min(i+160, len(alaw))])
		d.Process(frame[:n], emit)
	}
	d.Flush(emit)
	fmt.Println(string(keys))
	// Output: 123418113001015B
}

// The Contact ID handshake as a receiver sends it, heard by a panel.
func ExampleToneDetector() {
	g, _ := dsp.NewToneGenerator(false,
		dsp.ToneSegment{Freq1: 1400, DBm0: -10, Ms: 100}, dsp.ToneSegment{Ms: 100},
		dsp.ToneSegment{Freq1: 2300, DBm0: -10, Ms: 100}, dsp.ToneSegment{Ms: 100})
	d, _ := dsp.NewToneDetector(
		dsp.ToneSpec{Name: "1400", Freq1: 1400, MinMs: 80},
		dsp.ToneSpec{Name: "2300", Freq1: 2300, MinMs: 80})
	frame := make([]int16, 160)
	for !g.Done() {
		g.Generate(frame)
		d.Process(frame, func(e dsp.ToneEvent) {
			if !e.On {
				fmt.Printf("%s Hz for %d ms\n", e.Name, (e.DurationMs()+5)/10*10) // to 10 ms
			}
		})
	}
	// Output:
	// 1400 Hz for 100 ms
	// 2300 Hz for 100 ms
}

// An SDMF message over Bell 202, as a caller-ID style sender sends it.
func ExampleFSKDemodulator() {
	m := dsp.NewFSKModulator(dsp.Bell202, -12)
	_ = m.Queue(dsp.FSKTypeSDMF, []byte("01011200555123"), 30, 150)
	d := dsp.NewFSKDemodulator(dsp.FSKConfig{Standard: dsp.Bell202})
	frame := make([]int16, 160)
	for m.Busy() {
		m.Generate(frame)
		d.Process(frame, func(msg dsp.FSKMessage) {
			fmt.Printf("type %#02x %q checksum ok %v\n", msg.Type, msg.Data, msg.ChecksumOK)
		})
	}
	// Output: type 0x04 "01011200555123" checksum ok true
}
