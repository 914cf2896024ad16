package media

import (
	"testing"
	"time"
)

var t0 = time.Unix(1e9, 0)

func (r *eventReceiver) handle0(ts uint32, p []byte, out *[2]digit) int {
	return r.handle(ts, p, t0, out)
}

func ev(code uint8, end bool, dur uint16) []byte {
	b := make([]byte, 4)
	eventBlock{code: code, end: end, volume: 10, duration: dur}.put(b)
	return b
}

func TestEventReceiverEndAndDuplicates(t *testing.T) {
	var r eventReceiver
	var out [2]digit
	// Start, updates, end three times (RFC 4733 §2.5.1.4), then a late update.
	seq := []struct {
		ts   uint32
		p    []byte
		want int
	}{
		{8000, ev(5, false, 0), 0},
		{8000, ev(5, false, 320), 0},
		{8000, ev(5, false, 640), 0},
		{8000, ev(5, true, 800), 1},
		{8000, ev(5, true, 800), 0},
		{8000, ev(5, true, 800), 0},
		{8000, ev(5, false, 640), 0},
	}
	for i, s := range seq {
		n := r.handle0(s.ts, s.p, &out)
		if n != s.want {
			t.Fatalf("packet %d: %d digits", i, n)
		}
		if n == 1 && (out[0].key != '5' || out[0].ts != 8000 || out[0].dur != 800) {
			t.Fatalf("digit %+v", out[0])
		}
	}
}

func TestEventReceiverLostEnd(t *testing.T) {
	var r eventReceiver
	var out [2]digit
	r.handle0(100, ev(1, false, 160), &out)
	r.handle0(100, ev(1, false, 480), &out)
	// All end packets of '1' lost; '2' starts: '1' ends with 480 samples.
	n := r.handle0(2000, ev(2, false, 160), &out)
	if n != 1 || out[0].key != '1' || out[0].dur != 480 {
		t.Fatalf("n %d %+v", n, out[0])
	}
	// '2' never ends either. Audio up to 200 ms past its known end (it may
	// be sent along with the event) leaves it open; later audio ends it.
	if r.audio(2000+160+1599, &out) != 0 {
		t.Fatal("audio inside the event ended it")
	}
	if r.audio(2000+160+1600, &out) != 1 || out[0].key != '2' || out[0].dur != 160 {
		t.Fatalf("audio after the event: %+v", out[0])
	}
	// With nothing arriving at all, it is closed after eventTimeout.
	r.handle0(2500, ev(3, false, 160), &out)
	for ms := 0; ms < 1000; ms += 100 {
		if r.tick(t0.Add(time.Duration(ms)*time.Millisecond), &out) != 0 {
			t.Fatalf("closed early at %d ms", ms)
		}
	}
	if r.tick(t0.Add(time.Second), &out) != 1 || out[0].key != '3' || out[0].dur != 160 {
		t.Fatalf("tick: %+v", out[0])
	}
	// A stale packet of the old event does not reopen anything.
	if r.handle0(100, ev(1, true, 480), &out) != 0 {
		t.Error("stale end packet produced a digit")
	}
	// Only-end packet (start and updates lost) still yields the digit.
	if n := r.handle0(9000, ev(11, true, 400), &out); n != 1 || out[0].key != '#' || out[0].dur != 400 {
		t.Errorf("end-only: n %d %+v", n, out[0])
	}
	// Non-DTMF events (flash, 16) and short payloads are ignored.
	if r.handle0(12000, ev(16, true, 400), &out) != 0 || r.handle0(13000, []byte{1, 2}, &out) != 0 {
		t.Error("ignored event produced a digit")
	}
}

func TestEventReceiverLongEvent(t *testing.T) {
	// RFC 4733 §2.5.1.3: an event longer than 0xffff samples continues in a
	// new segment whose timestamp is where the first one's duration ended.
	var r eventReceiver
	var out [2]digit
	r.handle0(0, ev(0, false, 0xff00), &out)
	r.handle0(0, ev(0, false, 0xffff), &out)
	if n := r.handle0(0xffff, ev(0, false, 1000), &out); n != 0 {
		t.Fatalf("continuation reported as a new digit")
	}
	if n := r.handle0(0xffff, ev(0, true, 2000), &out); n != 1 || out[0].dur != 0xffff+2000 || out[0].ts != 0 {
		t.Fatalf("long event: n %d %+v", n, out[0])
	}
}

func TestKeyEvent(t *testing.T) {
	for i, k := range []byte(dtmfKeys) {
		c, err := keyEvent(k)
		if err != nil || int(c) != i {
			t.Errorf("%c: %d %v", k, c, err)
		}
	}
	if c, err := keyEvent('d'); err != nil || c != 15 {
		t.Errorf("lower case d: %d %v", c, err)
	}
	if _, err := keyEvent('E'); err == nil {
		t.Error("E accepted")
	}
}

// TestRedundantEvents: RFC 2198 packets carrying the end of '4' with the
// start of '6' (RFC 4733 §2.5.1.6), where the plain end packets of '4' were
// all lost; every packet sent twice.
func TestRedundantEvents(t *testing.T) {
	s := offlineSession(t, "PCMA", true)
	n := negotiatedPCMA()
	n.Red, n.RedPT = true, 100
	if err := s.Apply(n); err != nil {
		t.Fatal(err)
	}
	from := n.Remote
	now := time.Now()
	seq := uint16(10)
	send := func(pt uint8, ts uint32, payload []byte) {
		for range 2 {
			s.receive(rtpPacket(pt, seq, ts, 99, payload), from, now)
			seq++
		}
	}
	send(101, 1000, ev(4, false, 160))
	send(101, 1000, ev(4, false, 320))
	// red: one redundant block (end of '4', offset 2000-1000) + primary ('6' start).
	red := []byte{0x80 | 101, byte(1000 >> 6), byte(1000<<2&0xfc) | 0, 4, 101}
	red = append(red, ev(4, true, 480)...)
	red = append(red, ev(6, false, 160)...)
	send(100, 2000, red)
	send(101, 2000, ev(6, true, 400))
	var got []byte
	var durs []int64
	for len(s.Digits()) > 0 {
		d := <-s.Digits()
		got = append(got, d.Key)
		durs = append(durs, d.End-d.Start)
	}
	if string(got) != "46" || durs[0] != 480 || durs[1] != 400 {
		t.Errorf("digits %q durations %v", got, durs)
	}
	// A truncated red header is counted, not trusted.
	s.receive(rtpPacket(100, seq, 3000, 99, []byte{0x80 | 101, 0, 0}), from, now)
	if s.Stats().Malformed != 1 {
		t.Errorf("malformed %d", s.Stats().Malformed)
	}
}
