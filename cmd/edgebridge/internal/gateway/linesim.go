package gateway

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm/unitsim"
	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/hal"
)

// lineSimulator is the console's `line simulate`: the units `edgebridge
// simulate` plays over SIP, played on the simulated FXS line instead, in
// band and clocked like a real line (20 ms frames in real time).
type lineSimulator struct {
	line *hal.SimLine
	unit *simUnit // the pretend unit answering the ARC's call back
}

func (l lineSimulator) SimulateLine(ctx context.Context, args []string, lines chan<- string) error {
	fs := flag.NewFlagSet("line simulate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	protocol := fs.String("protocol", "", "")
	mode := fs.String("mode", "dtmf", "")
	number := fs.String("number", "5551", "")
	event := fs.String("event", "", "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return fmt.Errorf("usage: line simulate --protocol P [--mode dtmf|sdmf] [--number N] [--event E] (%v)", err)
	}
	if *number == "" || strings.Trim(*number, "0123456789*") != "" {
		return fmt.Errorf("--number %q: want digits", *number)
	}
	if *mode != "dtmf" && *mode != "sdmf" {
		return fmt.Errorf("--mode %q: want dtmf or sdmf", *mode)
	}
	if *event == "" {
		*event = unitsim.Defaults[*protocol]
	}
	unit, err := unitsim.New(*protocol, *mode, *event)
	if err != nil {
		return err
	}
	start := time.Now()
	sayAt := func(at time.Duration, format string, a ...any) {
		select {
		case lines <- fmt.Sprintf("%7.3fs  %s", at.Seconds(), fmt.Sprintf(format, a...)):
		case <-ctx.Done():
		}
	}
	say := func(format string, a ...any) { sayAt(time.Since(start), format, a...) }
	say("alarm unit on the FXS line, %s", unit.Describe)

	ch, onHook, gwR, gwW, err := openLine()
	if err != nil {
		return err
	}
	// On hook at the end, whichever way it ends.
	defer onHook()
	stop := context.AfterFunc(ctx, onHook)
	defer stop()
	// The unit speaks first so neither side waits on the other.
	if err := ch.WriteFrame(make([]int16, 160)); err != nil {
		return err
	}
	if err := l.line.Dial(gwR, gwW, lineEnds{gwR, gwW}); err != nil {
		gwR.Close()
		gwW.Close()
		return fmt.Errorf("the line is busy: %w", err)
	}
	say("off hook")
	if err := dialOnLine(ch, *number+"#", say); err != nil {
		return cmp.Or(ctx.Err(), err)
	}
	base := time.Since(start)
	at := func(ms int64) time.Duration { return base + time.Duration(ms)*time.Millisecond }
	if err := unit.Play(ctx, ch, at, sayAt, say); err != nil {
		return cmp.Or(ctx.Err(), err)
	}
	say("acknowledged, on hook")
	return nil
}

// dialOnLine waits for the gateway's dial tone (425 Hz) and dials number
// in DTMF, as an alarm unit does after it lifts its handset.
func dialOnLine(ch *lineUnit, number string, say func(string, ...any)) error {
	det, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "dialtone", Freq1: 425, MinMs: 100})
	if err != nil {
		return err
	}
	gen := dsp.NewDTMFGenerator(dsp.DTMFGenConfig{LowDBm0: -7, HighDBm0: -5, OnMs: 60, OffMs: 60})
	frame := make([]int16, 160)
	heard := false
	// 6 s for the dial tone, as a unit waits before it gives up.
	for i := 0; i < 300 && (!heard || gen.Busy()); i++ {
		if err := ch.ReadFrame(frame); err != nil {
			return errors.New("the line closed before the number was dialled")
		}
		det.Process(frame, func(ev dsp.ToneEvent) {
			if ev.On && !heard {
				heard = true
				say("dial tone heard")
				if err := gen.Queue(number); err == nil {
					say("dialling %s", number)
				}
			}
		})
		gen.Generate(frame)
		if err := ch.WriteFrame(frame); err != nil {
			return err
		}
	}
	if !heard {
		return errors.New("no dial tone on the line")
	}
	say("dialled")
	return nil
}

// openLine is the simulated line's audio both ways over pipes: unit is the
// unit's end, clocked like a real line from now, and gwR, gwW the
// gateway's (for hal.SimLine.Dial). onHook closes the unit's end, after
// which the gateway reads the end of its audio; a second call does nothing.
func openLine() (unit *lineUnit, onHook func(), gwR, gwW *os.File, err error) {
	unitR, gwW, err := os.Pipe() // gateway -> unit
	if err != nil {
		return nil, nil, nil, nil, err
	}
	gwR, unitW, err := os.Pipe() // unit -> gateway
	if err != nil {
		unitR.Close()
		gwW.Close()
		return nil, nil, nil, nil, err
	}
	unit = &lineUnit{r: unitR, w: unitW, buf: make([]byte, 320), start: time.Now()}
	return unit, sync.OnceFunc(func() { unitW.Close(); unitR.Close() }), gwR, gwW, nil
}

// lineUnit is the unit's end of the simulated line as an alarm.Channel:
// 16-bit LE PCM frames over pipes, written at the line's real pace.
type lineUnit struct {
	r      io.Reader
	w      io.Writer
	buf    []byte // ReadFrame's
	wbuf   []byte // WriteFrame's: a reader and a writer may run at once, as on a media.Session
	start  time.Time
	frames int64
}

func (p *lineUnit) ReadFrame(pcm []int16) error {
	b := p.buf[:2*len(pcm)]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return io.EOF
	}
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return nil
}

func (p *lineUnit) WriteFrame(pcm []int16) error {
	p.frames += int64(len(pcm))
	if d := time.Until(p.start.Add(time.Duration(p.frames) * time.Second / dsp.SampleRate)); d > 0 {
		time.Sleep(d)
	}
	if p.wbuf == nil {
		p.wbuf = make([]byte, len(p.buf))
	}
	b := p.wbuf[:2*len(pcm)]
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	_, err := p.w.Write(b)
	return err
}

// A line has no RFC 4733: the units send and hear their keys in band.
func (p *lineUnit) Digits() <-chan dsp.DigitEvent    { return nil }
func (p *lineUnit) SendDigit(key byte, ms int) error { return nil }
func (p *lineUnit) Hangup() error                    { return nil }

// lineEnds closes each of its members (the gateway's ends of the line).
type lineEnds []io.Closer

func (c lineEnds) Close() error {
	for _, x := range c {
		x.Close()
	}
	return nil
}

// LineSim is the console's `line simulate` and `line answer` on a board
// with a simulated FXS line, else nil ("not available").
func (g *Gateway) LineSim() console.LineSim {
	if g.simUnit == nil {
		return nil
	}
	return lineSimulator{line: g.simUnit.line, unit: g.simUnit}
}
