package contactid

import (
	"math/rand/v2"
	"testing"

	"github.com/edgebridge/edgebridge/dsp"
)

func del(keys string, i int) []byte { return []byte(keys[:i] + keys[i+1:]) }

func TestReassembleTwoDamagedRepeats(t *testing.T) {
	m, _ := Build("1234", "18", "1", "130", "01", "015")
	k := m.Keys() // 1234181130010 15B
	var r Reassembler
	if _, ok := r.Add(del(k, 12)); ok {
		t.Fatal("one damaged attempt alone must not decide")
	}
	got, ok := r.Add(del(k, 3))
	if !ok || string(got) != k {
		t.Fatalf("rebuilt %q, %v; want %q", got, ok, k)
	}
}

func TestReassembleSameDamageTwiceUndecided(t *testing.T) {
	m, _ := Build("1234", "18", "1", "130", "01", "015")
	var r Reassembler
	r.Add(del(m.Keys(), 12))
	if got, ok := r.Add(del(m.Keys(), 12)); ok {
		t.Fatalf("two copies of the same damage decided %q", got)
	}
}

// Over many random messages and damages, a rebuilt message is always the
// one sent; the share rebuilt from two attempts is logged.
func TestReassembleNeverWrong(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const hex = "0123456789BCDEF"
	rebuilt := 0
	const n = 3000
	for range n {
		var b [15]byte
		for i := range b {
			b[i] = hex[rng.IntN(len(hex))]
		}
		b[4], b[5] = "19"[rng.IntN(2)], '8'
		c, _ := CheckDigit(string(b[:]))
		m, _ := Parse(string(b[:]) + string(c))
		k := m.Keys()
		var r Reassembler
		// Up to four attempts, each losing one or two digits.
		for range 4 {
			a := del(k, rng.IntN(16))
			if rng.IntN(4) == 0 {
				j := rng.IntN(len(a))
				a = append(a[:j:j], a[j+1:]...)
			}
			got, ok := r.Add(a)
			if ok {
				if string(got) != k {
					t.Fatalf("message %s rebuilt as %s", k, got)
				}
				rebuilt++
				break
			}
		}
	}
	t.Logf("%d of %d messages rebuilt from damaged attempts alone", rebuilt, n)
	if rebuilt < n*8/10 {
		t.Errorf("only %d of %d rebuilt", rebuilt, n)
	}
}

// Two equal keys merged by a concealed gap come out as one long digit; the
// collector splits it back when the message is one digit short.
func TestCollectorSplitsMergedDigits(t *testing.T) {
	m, _ := Build("1234", "18", "1", "130", "01", "015")
	k := m.Keys() // ...3 0 0 1...: keys 9 and 10 are both 0
	c := NewCollector(400 * 8)
	var at int64
	for i := 0; i < len(k); i++ {
		ev := dsp.DigitEvent{Key: k[i], Start: at, End: at + 55*8}
		if i == 9 {
			ev.End = at + 165*8 // 0, the gap and the next 0 as one tone
			i++
			at += 110 * 8
		}
		at += 110 * 8
		if _, _, _, done := c.Add(ev); done {
			t.Fatal("15 digits completed a message")
		}
	}
	keys, _, _, expired, done := c.Expire(at + 500*8)
	if !expired || !done || string(keys) != k {
		t.Fatalf("Expire = %q expired %v done %v, want %q", keys, expired, done, k)
	}
	// A digit merely stretched by one concealed frame is not split.
	c = NewCollector(400 * 8)
	at = 0
	for i := 0; i < 15; i++ {
		d := int64(55)
		if i == 3 {
			d = 75
		}
		c.Add(dsp.DigitEvent{Key: k[i], Start: at, End: at + d*8})
		at += 110 * 8
	}
	if keys, _, _, _, done := c.Expire(at + 500*8); done || len(keys) != 15 {
		t.Fatalf("stretched digit: keys %q done %v, want the 15 digits back undecided", keys, done)
	}
}
