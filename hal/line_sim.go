package hal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// SimLine is the simulated FXS port: a pretend alarm unit "lifts its
// handset" with Dial, plays its audio from a reader (a WAV file, a pipe) and
// hears the gateway on a writer; when its audio ends it hangs up.
type SimLine struct {
	*fxsLine
	hook, ring *SimPin

	mu  sync.Mutex
	cur *simCall
	// armed is the pretend unit's auto-answer (AutoAnswer), nil when it
	// does not answer ringing.
	armed *autoAnswer
}

// autoAnswer is what the pretend unit does when rung: go off hook after
// rings ring bursts, with this audio.
type autoAnswer struct {
	rings  int
	in     io.Reader
	out    io.Writer
	closer io.Closer
	heard  int           // ring bursts so far
	answer chan struct{} // closed once off hook
}

type simCall struct {
	in  io.Reader
	out io.Writer
	c   io.Closer
}

func newSimLine(hook, ring *SimPin) *SimLine {
	s := &SimLine{hook: hook, ring: ring}
	hin, _ := newInput(hook, false)
	rout, _ := newOutput(ring, false)
	s.fxsLine = &fxsLine{hook: hin, ring: rout, audio: s.open, onEnd: s.hangUp}
	return s
}

// Dial takes the line off hook with in as the unit's audio (16-bit LE PCM at
// 8 kHz) and out receiving the gateway's; closer (may be nil) is closed at
// the end of the call.
func (s *SimLine) Dial(in io.Reader, out io.Writer, closer io.Closer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return errors.New("hal: simulated line already has a call")
	}
	s.cur = &simCall{in: in, out: out, c: closeOnce(closer)}
	s.hook.Drive(gpio.High)
	return nil
}

// DialWAV is Dial with the unit's audio from a WAV file (16-bit mono 8 kHz)
// and the gateway's side recorded to another.
func (s *SimLine) DialWAV(playPath, recordPath string) error {
	in, err := openWAVReader(playPath)
	if err != nil {
		return fmt.Errorf("hal: simulated line: %w", err)
	}
	out, err := createWAV(recordPath)
	if err != nil {
		in.Close()
		return fmt.Errorf("hal: simulated line: %w", err)
	}
	if err := s.Dial(in, out, multiCloser{out, in}); err != nil {
		in.Close()
		out.Close()
		os.Remove(recordPath)
		return err
	}
	return nil
}

// AutoAnswer arms the pretend unit to answer the next ringing as social
// alarm units answer an ARC's call back: off hook at the start of the
// rings-th ring burst (1 = at once), its audio from in, the gateway's to
// out (as Dial). The returned channel is closed once it has answered.
func (s *SimLine) AutoAnswer(rings int, in io.Reader, out io.Writer, closer io.Closer) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &autoAnswer{rings: max(rings, 1), in: in, out: out, closer: closer, answer: make(chan struct{})}
	s.armed = a
	return a.answer
}

// Ring drives the ringing generator; an armed pretend unit counts the
// bursts and answers (AutoAnswer).
func (s *SimLine) Ring(on bool) error {
	if err := s.fxsLine.Ring(on); err != nil || !on {
		return err
	}
	s.mu.Lock()
	a := s.armed
	if a != nil {
		a.heard++
		if a.heard < a.rings {
			a = nil
		} else {
			s.armed = nil
		}
	}
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	if err := s.Dial(a.in, a.out, a.closer); err != nil {
		return err
	}
	close(a.answer)
	return nil
}

// HangUp puts the pretend unit back on hook.
func (s *SimLine) HangUp() { s.hangUp() }

// RingPin is the ring output, to see whether the gateway rings the unit.
func (s *SimLine) RingPin() *SimPin { return s.ring }

func (s *SimLine) hangUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook.Drive(gpio.Low)
	if s.cur != nil && s.cur.c != nil {
		// Closing twice (here and in Call.Hangup) is harmless: Dial wrapped
		// the closer to ignore the second close.
		s.cur.c.Close()
	}
	s.cur = nil
}

func (s *SimLine) open() (io.Reader, io.Writer, io.Closer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil, nil, nil, ErrOnHook
	}
	return s.cur.in, s.cur.out, s.cur.c, nil
}

// Spool lets a person take a call on the pretend line (`make run`): every
// NAME.wav dropped into dir is played as a call from the unit, the gateway's
// side is recorded to NAME.reply.wav and NAME.wav is renamed NAME.wav.done.
// It returns when ctx ends.
func (s *SimLine) Spool(ctx context.Context, dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s.OffHook() {
			continue
		}
		names, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
		sort.Strings(names)
		for _, n := range names {
			if strings.HasSuffix(n, ".reply.wav") {
				continue
			}
			reply := strings.TrimSuffix(n, ".wav") + ".reply.wav"
			if err := os.Rename(n, n+".done"); err != nil {
				continue
			}
			if err := s.DialWAV(n+".done", reply); err != nil {
				if log != nil {
					log.Warn("simulated line: cannot play", "file", n, "err", err)
				}
				continue
			}
			if log != nil {
				log.Info("simulated line: off hook", "play", n, "record", reply)
			}
			break
		}
	}
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var first error
	for _, c := range m {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type onceCloser struct {
	once sync.Once
	c    io.Closer
	err  error
}

func (o *onceCloser) Close() error {
	o.once.Do(func() {
		if o.c != nil {
			o.err = o.c.Close()
		}
	})
	return o.err
}

func closeOnce(c io.Closer) io.Closer {
	if oc, ok := c.(*onceCloser); ok {
		return oc
	}
	return &onceCloser{c: c}
}
