package multi

import (
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/dsp"
)

// keyMs and pauseMs time the synthetic keys: 55 ms on, 55 ms off, as a
// unit sends them.
const keyMs, pauseMs = 55, 55

func samples(ms int64) int64 { return ms * dsp.SampleRate / 1000 }

// burst appends keys starting at sample at; it returns the digits and the
// first sample after the last key.
func burst(digits []dsp.DigitEvent, keys string, at int64) ([]dsp.DigitEvent, int64) {
	for i := range len(keys) {
		digits = append(digits, dsp.DigitEvent{Key: keys[i], Start: at, End: at + samples(keyMs)})
		at += samples(keyMs + pauseMs)
	}
	return digits, at - samples(pauseMs)
}

func keysOf(digits []dsp.DigitEvent) string {
	b := make([]byte, len(digits))
	for i, d := range digits {
		b[i] = d.Key
	}
	return string(b)
}

// Each burst goes to the protocol its length (and, for TT92, its "D#"
// opening) fits.
func TestSplitBurstsByLength(t *testing.T) {
	const tt = "D#1020461234567800000047" // 24 keys
	bs := strings.Repeat("1", 26)
	for _, c := range []struct {
		name, keys, want string
	}{
		{"contact id 16", "123418113001015E"[:15] + "9", "contactid"},
		{"contact id damaged 14", strings.Repeat("2", 14), "contactid"},
		{"19 keys", strings.Repeat("3", 19), "contactid"},
		{"a short burst opening D#", "D#12", "contactid"},
		{"20 keys", strings.Repeat("4", 20), "bs8521"},
		{"bs 8521 26", bs, "bs8521"},
		{"bs 8521 damaged 25", bs[:25], "bs8521"},
		{"30 keys", strings.Repeat("5", 30), "bs8521"},
		{"tt92 24", tt, "tt92"},
		{"tt92 damaged 23", tt[:23], "tt92"},
		{"tt92 damaged 22", tt[:22], "tt92"},
		{"21 keys opening D#", tt[:21], "bs8521"},
		{"25 keys opening D#", tt + "1", "bs8521"},
		{"24 keys opening D but not D#", "D1" + tt[2:], "bs8521"},
		{"24 keys opening #D", "#D" + tt[2:], "bs8521"},
	} {
		digits, _ := burst(nil, c.keys, 1000)
		b := SplitBursts(digits)
		got := map[string][]dsp.DigitEvent{"contactid": b.ContactID, "bs8521": b.BS8521, "tt92": b.TT92}
		for proto, d := range got {
			want := ""
			if proto == c.want {
				want = c.keys
			}
			if keysOf(d) != want {
				t.Errorf("%s: %s got %q, want %q", c.name, proto, keysOf(d), want)
			}
		}
	}
}

// A pause of BurstGap keeps one burst; a sample more ends it.
func TestSplitBurstsGap(t *testing.T) {
	half := strings.Repeat("1", 10)
	for _, c := range []struct {
		gap            int64
		wantBS, wantCI string
	}{
		{BurstGap, half + half, ""},         // one burst of 20: BS 8521
		{BurstGap + 1, "", half + half},     // two bursts of 10: Contact ID
		{samples(pauseMs), half + half, ""}, // the keys' own pause
	} {
		digits, end := burst(nil, half, 0)
		digits, _ = burst(digits, half, end+c.gap)
		b := SplitBursts(digits)
		if keysOf(b.BS8521) != c.wantBS || keysOf(b.ContactID) != c.wantCI || len(b.TT92) != 0 {
			t.Errorf("gap %d samples: bs8521 %q, contactid %q, tt92 %q; want %q, %q, none",
				c.gap, keysOf(b.BS8521), keysOf(b.ContactID), keysOf(b.TT92), c.wantBS, c.wantCI)
		}
	}
	if BurstGap != 3200 {
		t.Errorf("BurstGap %d samples, want 400 ms (3200)", BurstGap)
	}
}

// auto decodes each burst as its own protocol, in order of time; a forced
// protocol reads every burst as that one, and what makes no message is a
// note.
func TestDecodeDigitsAutoAndForced(t *testing.T) {
	cid, _ := contactid.Build("1234", "18", "1", "130", "01", "015")
	bs, err := bs8521.Build("1", "1", "01", "12345678", "0001", "021", "01", "1", "00")
	if err != nil {
		t.Fatal(err)
	}
	const tt = "D#1020461234567800000047"
	var digits []dsp.DigitEvent
	at := samples(2000)
	for _, k := range []string{bs.Raw, cid.Keys(), tt} {
		digits, at = burst(digits, k, at)
		at += samples(1250)
	}
	var notes []string
	note := func(s string) { notes = append(notes, s) }
	got := DecodeDigits(digits, "auto", note)
	if len(got) != 3 || len(notes) != 0 {
		t.Fatalf("auto: %d lines %+v, notes %q; want 3, none", len(got), got, notes)
	}
	b, ok0 := got[0].Line.(bs8521.Line)
	c, ok1 := got[1].Line.(contactid.Line)
	f, ok2 := got[2].Line.(tt92.Line)
	if !ok0 || !ok1 || !ok2 || !b.Valid || b.Event != "021" || !c.Valid || c.Raw != "123418113001015E" || !f.Valid || f.Raw != tt {
		t.Fatalf("auto: %+v", got)
	}
	if got[0].AtMs != 2000 || b.AtMs != 2000 || got[1].AtMs <= got[0].AtMs || got[2].AtMs <= got[1].AtMs || got[2].AtMs != f.AtMs {
		t.Errorf("auto: at_ms %d %d %d: want 2000 and rising", got[0].AtMs, got[1].AtMs, got[2].AtMs)
	}
	if DecodeDigits(digits, "", nil)[1].Line != got[1].Line {
		t.Errorf(`protocol "" is not auto`)
	}

	// Forced to BS 8521: only the 26-key burst is a message; the others
	// are notes.
	notes = nil
	got = DecodeDigits(digits, "bs8521", note)
	if len(got) != 1 || got[0].Line.(bs8521.Line).Raw != bs.Raw || len(notes) != 2 ||
		!strings.Contains(notes[0], "16 keys") || !strings.Contains(notes[1], "24 keys") || !strings.Contains(notes[1], "no BS 8521 message") {
		t.Errorf("bs8521: %+v, notes %q", got, notes)
	}
	notes = nil
	got = DecodeDigits(digits, "tt92", note)
	if len(got) != 1 || got[0].Line.(tt92.Line).Raw != tt || len(notes) != 2 || !strings.Contains(notes[0], "no TT92 frame") {
		t.Errorf("tt92: %+v, notes %q", got, notes)
	}
	notes = nil
	got = DecodeDigits(digits, "contactid", note)
	for _, d := range got {
		if l := d.Line.(contactid.Line); l.Valid && l.Raw != "123418113001015E" {
			t.Errorf("contactid: a valid message %q from a burst of another protocol", l.Raw)
		}
	}
	if len(notes) == 0 {
		t.Error("contactid: the BS 8521 and TT92 bursts left no note")
	}
}
