package contactid

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// Config tunes the receiver. The zero value takes the defaults in brackets.
type Config struct {
	// HandshakeDelay is the silence between answer and handshake, 0.5-2 s
	// (SIA DC-05 §2.2) [1 s].
	HandshakeDelay time.Duration
	// FirstDigitTimeout is how long to wait for a message to begin after
	// the handshake, a bad message or a kissoff [3 s]. The panel starts
	// 250-300 ms after the handshake and repeats a message 1.25 s after its
	// last digit when no kissoff came.
	FirstDigitTimeout time.Duration
	// InterDigitTimeout ends a partial message [400 ms]. It must stay under
	// the panel's 1.25 s repeat, so a repeat never joins a partial message.
	InterDigitTimeout time.Duration
	// KissoffDelay is the pause from the last digit to the kissoff [200 ms].
	KissoffDelay time.Duration
	// KissoffDuration is the length of the 1400 Hz kissoff, 750-1000 ms [900 ms].
	KissoffDuration time.Duration
	// KissoffLatest is the latest a kissoff starts after the last digit
	// [900 ms]: the panel repeats when none has started 1.25 s after it,
	// and the kissoff needs time to reach it both ways. When the durable
	// write takes longer, no kissoff is sent over the repeat: the repeat
	// is heard and kissed off at once (its event is already stored).
	KissoffLatest time.Duration
	// MaxHandshakes bounds handshakes sent while no message arrives [3].
	MaxHandshakes int
	// ToneDBm0 is the level of handshake and kissoff tones [−9 dBm0].
	ToneDBm0 float64
	// DTMF tunes the in-band detector (zero fields take dsp's defaults).
	DTMF dsp.DTMFConfig
	// Now stamps events [time.Now].
	Now func() time.Time
	// Log receives one line per message [slog.Default()].
	Log *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	c.HandshakeDelay = cmp.Or(c.HandshakeDelay, time.Second)
	c.FirstDigitTimeout = cmp.Or(c.FirstDigitTimeout, 3*time.Second)
	c.InterDigitTimeout = cmp.Or(c.InterDigitTimeout, defaultInterDigit)
	c.KissoffDelay = cmp.Or(c.KissoffDelay, 200*time.Millisecond)
	c.KissoffDuration = cmp.Or(c.KissoffDuration, 900*time.Millisecond)
	c.KissoffLatest = cmp.Or(c.KissoffLatest, 900*time.Millisecond)
	c.MaxHandshakes = cmp.Or(c.MaxHandshakes, 3)
	c.ToneDBm0 = cmp.Or(c.ToneDBm0, -9)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	switch {
	case c.HandshakeDelay < 500*time.Millisecond || c.HandshakeDelay > 2*time.Second:
		return c, fmt.Errorf("contactid: HandshakeDelay %v: must be 0.5-2 s (SIA DC-05)", c.HandshakeDelay)
	case c.KissoffDuration < 750*time.Millisecond || c.KissoffDuration > time.Second:
		return c, fmt.Errorf("contactid: KissoffDuration %v: must be 750-1000 ms (SIA DC-05)", c.KissoffDuration)
	case c.InterDigitTimeout < 100*time.Millisecond || c.InterDigitTimeout >= 1250*time.Millisecond:
		return c, fmt.Errorf("contactid: InterDigitTimeout %v: must be 100 ms to under 1.25 s", c.InterDigitTimeout)
	case c.FirstDigitTimeout < 1500*time.Millisecond:
		return c, fmt.Errorf("contactid: FirstDigitTimeout %v: must be at least 1.5 s, past the panel's 1.25 s repeat", c.FirstDigitTimeout)
	case c.KissoffDelay < 0 || c.KissoffDelay > time.Second:
		return c, fmt.Errorf("contactid: KissoffDelay %v: must be 0-1 s (the panel gives up at 1.25 s)", c.KissoffDelay)
	case c.KissoffLatest < c.KissoffDelay || c.KissoffLatest >= 1250*time.Millisecond:
		return c, fmt.Errorf("contactid: KissoffLatest %v: must be from KissoffDelay (%v) to under 1.25 s (the panel repeats then)", c.KissoffLatest, c.KissoffDelay)
	case c.MaxHandshakes < 1:
		return c, fmt.Errorf("contactid: MaxHandshakes %d: must be at least 1", c.MaxHandshakes)
	}
	return c, nil
}

// Receiver is the Contact ID receiving side of a call. It satisfies
// alarm.Receiver and is safe to use for many calls at once.
type Receiver struct {
	cfg Config
}

var _ alarm.Receiver = (*Receiver)(nil)

// NewReceiver checks cfg and returns a receiver.
func NewReceiver(cfg Config) (*Receiver, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Receiver{cfg: c}, nil
}

const defaultInterDigit = 400 * time.Millisecond

type state int

const (
	stHandshake state = iota // sending the handshake (after the answer delay)
	stListen                 // waiting for or collecting digits
	stWriting                // a message's event being stored; digits still collected
	stKissoff                // sending the kissoff
	stDone
)

// session is one call's state. All buffers are allocated when the call
// starts; the frame path (frames.Hear, then turn) allocates nothing unless
// a message completes.
type session struct {
	r    *Receiver
	ctx  context.Context
	call alarm.Call
	q    alarm.Queue

	frames    alarm.FrameLoop // reads, detects, keeps sample time
	col       Collector
	reasm     Reassembler
	handshake *dsp.ToneGenerator
	kissoff   *dsp.ToneGenerator
	tone      *dsp.ToneGenerator // playing, or nil
	toneWait  int64              // silence before tone starts

	st       state
	toneEnd  int64 // when the current tone program ends
	deadline int64 // first-digit deadline while listening with no digits
	acked    map[string]bool
	listenIn bool
	// The write of a message's event runs beside the frame loop (the
	// panel may repeat the message meanwhile); writeListenIn is its 606.
	write         alarm.PendingWrite
	writeListenIn bool

	out alarm.Outcome
	err error
}

// Receive runs Contact ID on ch until the panel hangs up, goes quiet after
// its messages, gives up, or asks for listen-in (606). Every valid message
// is put to q; the kissoff follows only if Enqueue succeeded.
func (r *Receiver) Receive(ctx context.Context, ch alarm.Channel, call alarm.Call, q alarm.Queue) (alarm.Outcome, error) {
	s, err := r.newSession(ctx, ch, call, q)
	if err != nil {
		return alarm.Outcome{}, err
	}
	hungUp, err := s.frames.Run(ctx, s.turn)
	if hungUp {
		s.out.Reason = alarm.ReasonHangup
	}
	if done, werr := s.write.Wait(); done {
		// The call ended during the write: stored, if it succeeded, but
		// never kissed off (the panel calls again).
		s.written(werr, false)
	}
	return s.out, err
}

func (r *Receiver) newSession(ctx context.Context, ch alarm.Channel, call alarm.Call, q alarm.Queue) (*session, error) {
	c := r.cfg
	hs, err := dsp.NewToneGenerator(false,
		dsp.ToneSegment{Freq1: 1400, DBm0: c.ToneDBm0, Ms: 100},
		dsp.ToneSegment{Ms: 100},
		dsp.ToneSegment{Freq1: 2300, DBm0: c.ToneDBm0, Ms: 100})
	if err != nil {
		return nil, err
	}
	ko, err := dsp.NewToneGenerator(false, dsp.ToneSegment{Freq1: 1400, DBm0: c.ToneDBm0, Ms: int(c.KissoffDuration / time.Millisecond)})
	if err != nil {
		return nil, err
	}
	s := &session{
		r: r, ctx: ctx, call: call, q: q,
		col:       NewCollector(alarm.Samples(c.InterDigitTimeout)),
		handshake: hs, kissoff: ko,
		acked: map[string]bool{},
	}
	s.frames.Init("contactid", ch, dsp.NewDTMFDetector(c.DTMF).Process, s.digit)
	s.startHandshake(alarm.Samples(c.HandshakeDelay))
	return s, nil
}

func (s *session) startHandshake(wait int64) {
	s.handshake.Reset()
	s.tone, s.toneWait = s.handshake, wait
	s.toneEnd = s.frames.Now + wait + alarm.Samples(300*time.Millisecond)
	s.st = stHandshake
	s.out.Handshakes++
}

// step consumes one frame heard and fills one frame to send: one turn of
// frames.Run without the Channel, for the allocation test and benchmark.
func (s *session) step(in, out []int16) {
	s.frames.Hear(in)
	s.turn(out)
}

// turn fills the frame to send once the frame heard has been taken.
func (s *session) turn(out []int16) (done bool, err error) {
	s.tick()
	s.fill(out)
	return s.st == stDone, s.err
}

func (s *session) digit(ev dsp.DigitEvent) {
	if s.st != stListen && s.st != stWriting || ev.Start < s.toneEnd {
		return // the panel does not send over our tones; this is noise or echo
	}
	keys, start, end, done := s.col.Add(ev)
	if done {
		s.message(keys, start, end)
	}
}

// tick advances timers: tone programs ending, first-digit and inter-digit timeouts.
func (s *session) tick() {
	switch s.st {
	case stHandshake:
		if s.frames.Now >= s.toneEnd {
			s.listen(s.toneEnd)
		}
	case stKissoff:
		if s.frames.Now >= s.toneEnd {
			if s.listenIn {
				s.out.ListenIn = true
				s.out.Reason = alarm.ReasonListenIn
				s.st = stDone
				return
			}
			s.listen(s.toneEnd)
		}
	case stWriting:
		if done, err := s.write.Poll(s.frames.Ahead()); done {
			s.written(err, true)
			return
		}
		s.expire()
	case stListen:
		if s.expire() {
			return
		}
		if s.frames.Now < s.deadline {
			return
		}
		if len(s.out.Events) > 0 {
			s.out.Reason = alarm.ReasonIdle
			s.st = stDone
			return
		}
		if s.out.Handshakes >= s.r.cfg.MaxHandshakes {
			s.out.Reason = alarm.ReasonNoMessage
			s.st = stDone
			return
		}
		s.startHandshake(0)
	}
}

// expire ends a partial message whose next digit is overdue; it reports
// whether digits are being collected.
func (s *session) expire() bool {
	n, last := s.col.Partial()
	if n == 0 {
		return false
	}
	if s.frames.Now-last > alarm.Samples(s.r.cfg.InterDigitTimeout) {
		s.r.cfg.Log.Debug("contactid: digits before timeout", "call", s.call.ID, "digits", s.col.String())
	}
	keys, start, end, expired, done := s.col.Expire(s.frames.Now)
	switch {
	case done:
		s.r.cfg.Log.Info("contactid: merged digits split", "call", s.call.ID, "digits", n)
		s.message(keys, start, end)
	case expired:
		// A partial message (a digit lost on the way): the panel
		// repeats it, so wait as after a bad message.
		s.out.Messages++
		s.out.BadMessages++
		s.deadline = max(s.deadline, last+alarm.Samples(s.r.cfg.FirstDigitTimeout))
		s.r.cfg.Log.Warn("contactid: partial message dropped", "call", s.call.ID, "digits", n)
		if rebuilt, ok := s.reasm.Add(keys); ok {
			s.r.cfg.Log.Info("contactid: message rebuilt from damaged repeats", "call", s.call.ID)
			s.out.Messages--
			s.message(rebuilt, start, end)
		}
	}
	return true
}

// listen waits for a message from the given time on.
func (s *session) listen(from int64) {
	s.st = stListen
	s.tone = nil
	s.col.Reset()
	s.deadline = from + alarm.Samples(s.r.cfg.FirstDigitTimeout)
}

func (s *session) fill(out []int16) {
	if s.tone == nil {
		clear(out)
		return
	}
	if s.toneWait > 0 {
		n := min(int64(len(out)), s.toneWait)
		clear(out[:n])
		s.toneWait -= n
		out = out[n:]
	}
	s.tone.Generate(out)
}

// message handles 16 digits: validate, queue, kissoff (SIA DC-05 §2.3).
func (s *session) message(keys []byte, start, end int64) {
	s.out.Messages++
	// Listen again from the last digit: the panel repeats 1.25 s after it.
	s.deadline = end + alarm.Samples(s.r.cfg.FirstDigitTimeout)
	m, err := ParseKeys(string(keys))
	if err == nil {
		err = m.Validate()
	}
	log := s.r.cfg.Log
	if err != nil {
		// No kissoff: the panel repeats the message (DC-05 §2.3).
		s.out.BadMessages++
		log.Warn("contactid: message not acknowledged", "call", s.call.ID, "raw", m.Raw, "keys", string(keys), "err", err)
		return
	}
	ev := EventFor(m, s.call, s.r.cfg.Now())
	switch {
	case s.acked[ev.ID]:
		// A repeat of a message whose event is stored (its kissoff was
		// missed, or came too late to send): kiss it off at once.
		s.listenIn = s.listenIn || m.ListenIn()
		s.kissoffAfter(end)
	case s.write.Busy():
		// The panel repeats while the event is still being written: the
		// kissoff, if the write ends in time, answers this copy.
		if s.write.Event().ID == ev.ID {
			s.write.Repeated(end)
		}
	default:
		s.writeListenIn = m.ListenIn()
		s.st = stWriting
		if done, err := s.write.Start(s.ctx, s.q, ev, end); done {
			s.written(err, true)
		}
	}
}

// written takes the end of an event's write: stored, it is kissed off if
// the kissoff can still start within KissoffLatest of the last digit heard
// and the panel is not sending again (live), else the panel's repeat is
// awaited and kissed off at once; refused, no kissoff, so the panel
// repeats and then calls its backup number, and the alarm is not lost here.
func (s *session) written(err error, live bool) {
	ev, log := s.write.Event(), s.r.cfg.Log
	if err != nil {
		s.out.EnqueueFailures++
		log.Error("contactid: queue refused event, withholding kissoff", "call", s.call.ID, "event", ev.ID, "raw", ev.Raw, "err", err)
		if s.ctx.Err() != nil {
			s.err = s.ctx.Err()
		}
		s.st = stListen
		return
	}
	s.reasm.Reset()
	if !s.acked[ev.ID] {
		s.acked[ev.ID] = true
		s.out.Events = append(s.out.Events, ev)
	}
	log.Info("contactid: event queued", "call", s.call.ID, "event", ev.ID, "raw", ev.Raw, "account", ev.ContactID.Account, "code", ev.ContactID.Qualifier+ev.ContactID.Code)
	if !live {
		return
	}
	s.listenIn = s.listenIn || s.writeListenIn
	if n, _ := s.col.Partial(); n > 0 || s.frames.Now > s.write.End()+alarm.Samples(s.r.cfg.KissoffLatest) {
		log.Warn("contactid: event stored too late for its kissoff; kissing off the panel's repeat", "call", s.call.ID, "event", ev.ID,
			"late_ms", (s.frames.Now-s.write.End())*1000/dsp.SampleRate)
		s.st = stListen
		s.deadline = s.write.End() + alarm.Samples(s.r.cfg.FirstDigitTimeout)
		return
	}
	s.kissoffAfter(s.write.End())
}

// kissoffAfter starts the kissoff KissoffDelay after the last digit (end),
// or now if that is past.
func (s *session) kissoffAfter(end int64) {
	s.kissoff.Reset()
	s.tone = s.kissoff
	s.toneWait = max(0, end+alarm.Samples(s.r.cfg.KissoffDelay)-s.frames.Now)
	s.toneEnd = s.frames.Now + s.toneWait + alarm.Samples(s.r.cfg.KissoffDuration)
	s.st = stKissoff
}

// EventFor turns a valid message heard on call into an Event. The account
// is the controller id (the device lookup key when no customerSiteId is
// set), and qualifier+code make the 4-digit status code.
func EventFor(m Message, call alarm.Call, at time.Time) alarm.Event {
	return alarm.Event{
		ID:           alarm.EventID(call.Domain, call.ID, alarm.ProtoContactID, m.Raw),
		Protocol:     alarm.ProtoContactID,
		Domain:       call.Domain,
		Received:     at,
		Raw:          m.Raw,
		CallerID:     call.Caller,
		CallID:       call.ID,
		CalledNumber: call.Called,
		ControllerID: m.Account,
		StatusCode:   m.Qualifier + m.Code,
		ContactID: &alarm.ContactIDFields{
			Account: m.Account, Qualifier: m.Qualifier, Code: m.Code, Group: m.Group, Zone: m.Zone,
		},
	}
}
