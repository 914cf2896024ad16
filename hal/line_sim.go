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
	// armed is how the pretend unit answers ringing (AnswerRinging,
	// AutoAnswer), nil when it does not.
	armed *ringAnswer
}

// PickUp gives the audio of a call the pretend unit answers: its own
// audio, the gateway's, and what to close at the end (Dial's arguments).
type PickUp func() (in io.Reader, out io.Writer, closer io.Closer, err error)

// ringAnswer is what the pretend unit does when rung: go off hook at the
// rings-th ring burst with the audio pickUp gives.
type ringAnswer struct {
	rings  int
	once   bool      // disarmed after the first answer (AutoAnswer)
	rung   func(int) // hears each burst (may be nil)
	pickUp PickUp
	heard  int       // bursts of this ringing so far
	last   time.Time // the last switch of the ringing generator
	answer chan struct{}
}

// simRingGap is the silence after which a ring burst begins a new ringing:
// longer than any off time of a cadence (ParseCadence: at most 10 s), as a
// unit's ring counter forgets a ringing that has stopped.
const simRingGap = 12 * time.Second

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
// out (as Dial). The returned channel is closed once it has answered; the
// unit then answers no more ringing.
func (s *SimLine) AutoAnswer(rings int, in io.Reader, out io.Writer, closer io.Closer) <-chan struct{} {
	a := &ringAnswer{rings: max(rings, 1), once: true, answer: make(chan struct{}),
		pickUp: func() (io.Reader, io.Writer, io.Closer, error) { return in, out, closer, nil }}
	s.mu.Lock()
	s.armed = a
	s.mu.Unlock()
	return a.answer
}

// AnswerRinging arms the pretend unit to answer every ringing, as a social
// alarm unit answers its ARC's call back, until it is called again: off
// hook at the start of the rings-th ring burst (1 = at once) with the
// audio pickUp gives for that call. rung, when not nil, hears each burst
// (n counts from 1 in each ringing; a burst after simRingGap of quiet
// begins a new one); it runs on the goroutine that rings and must not
// block. rings 0 disarms the unit: the line then rings until the caller
// gives up.
func (s *SimLine) AnswerRinging(rings int, rung func(n int), pickUp PickUp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rings <= 0 || pickUp == nil {
		s.armed = nil
		return
	}
	s.armed = &ringAnswer{rings: rings, rung: rung, pickUp: pickUp}
}

// AnswersAt is the ring burst the pretend unit answers at, 0 when it does
// not answer ringing.
func (s *SimLine) AnswersAt() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armed == nil {
		return 0
	}
	return s.armed.rings
}

// Ring drives the ringing generator; an armed pretend unit counts the
// bursts and answers (AnswerRinging, AutoAnswer).
func (s *SimLine) Ring(on bool) error {
	if err := s.fxsLine.Ring(on); err != nil {
		return err
	}
	s.mu.Lock()
	a, n, answer := s.armed, 0, false
	if a != nil {
		now := time.Now()
		if on {
			if now.Sub(a.last) > simRingGap {
				a.heard = 0
			}
			a.heard++
			n = a.heard
			if answer = a.heard >= a.rings; answer {
				a.heard = 0
				if a.once {
					s.armed = nil
				}
			}
		}
		a.last = now
	}
	s.mu.Unlock()
	if n == 0 {
		return nil
	}
	if a.rung != nil {
		a.rung(n)
	}
	if !answer {
		return nil
	}
	in, out, c, err := a.pickUp()
	if err != nil {
		return err
	}
	if err := s.Dial(in, out, c); err != nil {
		if c != nil {
			c.Close()
		}
		return err
	}
	if a.once {
		close(a.answer)
	}
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
