package contactid

import (
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/dsp"
)

// Lines: every 16-digit message is a line, valid or not, raw in hex ('?'
// for a key that carries no hex digit); a partial message is a note.
func TestLines(t *testing.T) {
	good, err := Build("1234", "18", "1", "130", "01", "015")
	if err != nil {
		t.Fatal(err)
	}
	badSum := good.Keys()[:15] + "A"
	badKey := "D" + good.Keys()[1:]
	const ms = dsp.SampleRate / 1000
	var digits []dsp.DigitEvent
	at := int64(1000 * ms)
	for _, keys := range []string{good.Keys(), badSum, badKey, "123"} {
		for i := 0; i < len(keys); i++ {
			digits = append(digits, dsp.DigitEvent{Key: keys[i], Start: at, End: at + 55*ms})
			at += 110 * ms
		}
		at += 1250 * ms
	}
	var notes []string
	got := Lines(digits, func(s string) { notes = append(notes, s) })
	if len(got) != 3 {
		t.Fatalf("lines %+v, want 3", got)
	}
	want := Line{Protocol: "contactid", Account: "1234", Qualifier: "1", Code: "130", Group: "01", Zone: "015", Raw: "123418113001015E", Valid: true, AtMs: 1000}
	if got[0] != want {
		t.Errorf("good line\n got %+v\nwant %+v", got[0], want)
	}
	if l := got[1]; l.Valid || l.Raw != "123418113001015D" || !strings.Contains(l.Error, "checksum") {
		t.Errorf("bad checksum line %+v", l)
	}
	if l := got[2]; l.Valid || l.Raw != "?23418113001015E" || l.Account != "" || l.Error == "" {
		t.Errorf("bad key line %+v: want raw ?23418113001015E", l)
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[0], `3 digits at `) || !strings.Contains(notes[0], `("123") make no message: `) || !strings.Contains(notes[0], "partial message: 03 of 16 digits") {
		t.Errorf("notes %q", notes)
	}
}
