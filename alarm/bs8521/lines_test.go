package bs8521

import (
	"testing"

	"github.com/edgebridge/edgebridge/dsp"
)

// Lines: every 26-key message is a line, valid or not; a burst of another
// length is a note.
func TestLines(t *testing.T) {
	good, err := Build("1", "1", "01", "12345678", "0001", "021", "01", "1", "00")
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte(good.Raw)
	bad[len(bad)-1] ^= 1 // the check digit
	const ms = dsp.SampleRate / 1000
	var digits []dsp.DigitEvent
	at := int64(2000 * ms)
	for _, keys := range []string{good.Raw, string(bad), "1234"} {
		for i := 0; i < len(keys); i++ {
			digits = append(digits, dsp.DigitEvent{Key: keys[i], Start: at, End: at + 55*ms})
			at += 110 * ms
		}
		at += 1000 * ms
	}
	var notes []string
	got := Lines(digits, func(s string) { notes = append(notes, s) })
	if len(got) != 2 {
		t.Fatalf("lines %+v, want 2", got)
	}
	if l := got[0]; l.Protocol != "bs8521" || l.Raw != good.Raw || !l.Valid || l.Event != "021" || l.Controller != "12345678" || l.AtMs != 2000 || l.Error != "" {
		t.Errorf("good line %+v", l)
	}
	if l := got[1]; l.Valid || l.Raw != string(bad) || l.Error == "" {
		t.Errorf("bad line %+v: want valid false and an error", l)
	}
	if len(notes) != 1 || notes[0] != `4 keys at 9720 ms ("1234") make no BS 8521 message` {
		t.Errorf("notes %q", notes)
	}
}
