package main

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/dsp"
)

// pcmPipe is the alarm unit's end of the simulated FXS line: 16-bit LE PCM
// frames over OS pipes, as alarm.Channel.
type pcmPipe struct {
	r   io.Reader
	w   io.Writer
	buf []byte
}

func (p *pcmPipe) ReadFrame(pcm []int16) error {
	b := p.buf[:2*len(pcm)]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return io.EOF
	}
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return nil
}

func (p *pcmPipe) WriteFrame(pcm []int16) error {
	b := p.buf[:2*len(pcm)]
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	_, err := p.w.Write(b)
	return err
}

func (p *pcmPipe) Digits() <-chan dsp.DigitEvent    { return nil }
func (p *pcmPipe) SendDigit(key byte, ms int) error { return nil }
func (p *pcmPipe) Hangup() error                    { return nil }

// TestFXSPanelDialsAndIsDelivered: a panel on the (simulated) FXS port goes
// off hook, hears dial tone, dials 5551#, runs Contact ID, gets its kissoff,
// and the ARC receives the event over DC-09: the same path as a SIP call.
func TestFXSPanelDialsAndIsDelivered(t *testing.T) {
	arc := startARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"device":           {"1234": `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.addr + `?transport=tcp"}}`},
		"alarmbridge":      {"panels": `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fxs := &fxsComponent{g: g}
	if err := fxs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer fxs.Close()

	unitR, gwW, _ := os.Pipe() // gateway -> unit
	gwR, unitW, _ := os.Pipe() // unit -> gateway
	defer unitR.Close()
	defer unitW.Close()
	unit := &pcmPipe{r: unitR, w: unitW, buf: make([]byte, 320)}
	// Lock-step over pipes: the unit speaks first so neither side waits on the other.
	if err := unit.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if err := g.board.Sim.Line.Dial(gwR, gwW, multiCloserOf(gwR, gwW)); err != nil {
		t.Fatal(err)
	}

	// Dial 5551# after a moment of dial tone, which the unit must hear.
	frame := make([]int16, 160)
	heard := false
	toneDet, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "dialtone", Freq1: 425, MinMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	gen := dsp.NewDTMFGenerator(dsp.DTMFGenConfig{LowDBm0: -7, HighDBm0: -5, OnMs: 60, OffMs: 60})
	for i := 0; i < 300 && (!heard || gen.Busy()); i++ {
		if err := unit.ReadFrame(frame); err != nil {
			t.Fatalf("line closed while dialling: %v", err)
		}
		toneDet.Process(frame, func(ev dsp.ToneEvent) {
			if ev.On && !heard {
				heard = true
				if err := gen.Queue("5551#"); err != nil {
					t.Error(err)
				}
			}
		})
		gen.Generate(frame)
		if err := unit.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if !heard {
		t.Fatal("no dial tone on the FXS line")
	}

	panel, err := contactid.NewPanel(contactid.PanelConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := contactid.Parse("123418113001015E")
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	rep, err := panel.Send(pctx, unit, []contactid.Message{msg})
	if err != nil {
		t.Fatalf("panel: %v (%+v)", err, rep)
	}
	if len(rep.Messages) != 1 || !rep.Messages[0].Acked {
		t.Fatalf("panel report %+v: want one kissed-off message", rep)
	}
	unitW.Close() // the unit hangs up

	got := arc.wait(1, 10*time.Second)
	if len(got) != 1 || got[0].Data != "#1234|1130 01 015" {
		t.Fatalf("ARC got %+v, want one ADM-CID #1234|1130 01 015", got)
	}
	if n := g.dspFrames.Load(); n < 100 {
		t.Fatalf("/metrics DSP frames = %d after a whole Contact ID call, want its frames counted", n)
	}
	// The field console's `alarms` shows it, and nothing is left queued.
	if r := g.RecentAlarms(5); len(r) != 1 || r[0].Account != "1234" || r[0].Code != "1130" || r[0].Zone != "015" {
		t.Fatalf("console recent alarms = %+v", r)
	}
	for deadline := time.Now().Add(5 * time.Second); len(g.QueuedAlarms()) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if q := g.QueuedAlarms(); len(q) != 0 {
		t.Fatalf("still queued after the ARC acknowledged: %+v", q)
	}
}

type closers []io.Closer

func (c closers) Close() error {
	for _, x := range c {
		x.Close()
	}
	return nil
}

func multiCloserOf(c ...io.Closer) io.Closer { return closers(c) }
