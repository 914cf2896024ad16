// genwav writes a long 8 kHz mono 16-bit PCM WAV for `make bench`: every
// 30 s a Contact ID burst of 16 DTMF keys at 1 s, then from 4 s voice
// (harmonic vowels with a wandering pitch, so that the detector's filters
// run rather than its silence gate), over line noise of about −60 dBm0.
// It streams the samples, so it needs no memory for long files.
//
//	go run ./testdata/bench/genwav --minutes 60 --out bin/bench/60min.wav
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
)

func main() {
	minutes := flag.Int("minutes", 60, "length of the recording")
	out := flag.String("out", "", "WAV file to write")
	flag.Parse()
	if *out == "" || *minutes <= 0 {
		fmt.Fprintln(os.Stderr, "genwav: --out FILE and --minutes N > 0 are required")
		os.Exit(2)
	}
	if err := write(*out, *minutes); err != nil {
		fmt.Fprintln(os.Stderr, "genwav:", err)
		os.Exit(1)
	}
}

func write(path string, minutes int) error {
	samples := minutes * 60 * dsp.SampleRate
	hdr, err := audiofile.WAVHeader(audiofile.PCM16, samples)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	w.Write(hdr)
	gen := dsp.NewDTMFGenerator(dsp.DTMFGenConfig{LowDBm0: -8, HighDBm0: -6, OnMs: 55, OffMs: 55})
	var frame [160]int16
	var b [2 * 160]byte
	seed := uint32(1)
	rnd := func() uint32 { seed = seed*1664525 + 1013904223; return seed >> 16 }
	f0, ph := 120.0, 0.0
	for at := 0; at < samples; at += len(frame) {
		inCycle := at % (30 * dsp.SampleRate)
		if inCycle == dsp.SampleRate {
			if err := gen.Queue("123418113001015B"); err != nil {
				return err
			}
		}
		gen.Generate(frame[:])
		for i := range frame {
			if inCycle >= 4*dsp.SampleRate {
				if (at+i)%800 == 0 {
					f0 = 90 + 150*float64(rnd())/65536
				}
				ph += f0 / dsp.SampleRate
				var v float64
				for h := 1.0; h <= 6; h++ {
					v += math.Sin(2*math.Pi*ph*h) / h
				}
				frame[i] = int16(2500 * v)
			}
			frame[i] += int16(int32(rnd())%64 - 32) // about −60 dBm0
			binary.LittleEndian.PutUint16(b[2*i:], uint16(frame[i]))
		}
		n := min(len(frame), samples-at)
		w.Write(b[:2*n])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
