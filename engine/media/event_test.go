package media

import "testing"

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
		n := r.handle(s.ts, s.p, &out)
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
	r.handle(100, ev(1, false, 160), &out)
	r.handle(100, ev(1, false, 480), &out)
	// All end packets of '1' lost; '2' starts: '1' ends with 480 samples.
	n := r.handle(2000, ev(2, false, 160), &out)
	if n != 1 || out[0].key != '1' || out[0].dur != 480 {
		t.Fatalf("n %d %+v", n, out[0])
	}
	// '2' never ends either: after 200 ms of frames it is closed.
	for i := range 9 {
		if r.tick(&out) != 0 {
			t.Fatalf("closed early at tick %d", i)
		}
	}
	if r.tick(&out) != 1 || out[0].key != '2' || out[0].dur != 160 {
		t.Fatalf("tick: %+v", out[0])
	}
	// A stale packet of the old event does not reopen anything.
	if r.handle(100, ev(1, true, 480), &out) != 0 {
		t.Error("stale end packet produced a digit")
	}
	// Only-end packet (start and updates lost) still yields the digit.
	if n := r.handle(9000, ev(11, true, 400), &out); n != 1 || out[0].key != '#' || out[0].dur != 400 {
		t.Errorf("end-only: n %d %+v", n, out[0])
	}
	// Non-DTMF events (flash, 16) and short payloads are ignored.
	if r.handle(12000, ev(16, true, 400), &out) != 0 || r.handle(13000, []byte{1, 2}, &out) != 0 {
		t.Error("ignored event produced a digit")
	}
}

func TestEventReceiverLongEvent(t *testing.T) {
	// RFC 4733 §2.5.1.3: an event longer than 0xffff samples continues in a
	// new segment whose timestamp is where the first one's duration ended.
	var r eventReceiver
	var out [2]digit
	r.handle(0, ev(0, false, 0xff00), &out)
	r.handle(0, ev(0, false, 0xffff), &out)
	if n := r.handle(0xffff, ev(0, false, 1000), &out); n != 0 {
		t.Fatalf("continuation reported as a new digit")
	}
	if n := r.handle(0xffff, ev(0, true, 2000), &out); n != 1 || out[0].dur != 0xffff+2000 || out[0].ts != 0 {
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
