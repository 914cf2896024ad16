package contactid

import (
	"errors"
	"strings"
	"testing"
)

// Check digits worked by hand from the rule of SIA DC-05 §2.1.4 (values: 0
// counts 10, 1-9 face value, B-F 11-15; the 16 values sum to a multiple of
// 15; a check value of 15 is sent as F, one of 10 as 0).
func TestCheckDigit(t *testing.T) {
	for _, tc := range []struct {
		body string
		want byte
		why  string
	}{
		{"123418113001015", 'E', "the SIA DC-05 example (doc.go): sum 61, 61+14 = 75"},
		{"123418113001013", '1', "sum 59, 59+1 = 60"},
		{"123418113001019", '0', "sum 65 needs 10, sent as 0"},
		{"123418113001014", 'F', "sum 60 is already a multiple: check value 15 = F, never 0"},
		{"BBBBBBBBBBBBBBB", 'F', "15×11 = 165, a multiple of 15"},
		{"CDEF18160200000", '3', "hex account C D E F count 12-15: sum 132, +3 = 135"},
	} {
		c, err := CheckDigit(tc.body)
		if err != nil {
			t.Fatalf("%s: %v", tc.body, err)
		}
		if c != tc.want {
			t.Errorf("CheckDigit(%s) = %c, want %c (%s)", tc.body, c, tc.want, tc.why)
		}
		m, err := Parse(tc.body + string(c))
		if err != nil {
			t.Fatal(err)
		}
		if !m.ChecksumOK() {
			t.Errorf("%s%c: checksum does not validate", tc.body, c)
		}
	}
}

func TestParseFields(t *testing.T) {
	m, err := Parse("123418113001015E")
	if err != nil {
		t.Fatal(err)
	}
	want := Message{Raw: "123418113001015E", Account: "1234", Type: "18", Qualifier: "1", Code: "130", Group: "01", Zone: "015", Check: 'E'}
	if m != want {
		t.Fatalf("Parse = %+v, want %+v", m, want)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want error
	}{
		{"123418113001015D", ErrChecksum}, // one off the DC-05 example
		{"123418113001016E", ErrChecksum}, // a zone digit changed
		{"123428113001015D", ErrMessageType},
	} {
		m, err := Parse(tc.raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if tc.want == ErrMessageType {
			// Make the checksum right so only the type is wrong.
			c, _ := CheckDigit(tc.raw[:15])
			m, _ = Parse(tc.raw[:15] + string(c))
		}
		if err := m.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Validate = %v, want %v", m.Raw, err, tc.want)
		}
	}
}

func TestParseFormatErrors(t *testing.T) {
	for _, raw := range []string{"", "123418113001015", "123418113001015EE", "1234181130010A5E", "12341811300101 E", "123418113001015e"} {
		_, err := Parse(raw)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q) = %v, want ErrFormat", raw, err)
		}
	}
	// D is a DTMF key that carries no Contact ID digit (hex A is unused).
	if _, err := ParseKeys("1234181130010D5E"); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "position 14") {
		t.Errorf("ParseKeys with D: %v, want ErrFormat naming position 14", err)
	}
}

// DTMF keys * # A B C carry hex B C D E F (DC-05 §2.1.4).
func TestKeysRoundTrip(t *testing.T) {
	m, err := ParseKeys("*#AB181130010150")
	if err != nil {
		t.Fatal(err)
	}
	if m.Account != "BCDE" {
		t.Fatalf("account %q, want BCDE", m.Account)
	}
	if m.Keys() != "*#AB181130010150" {
		t.Fatalf("Keys() = %q", m.Keys())
	}
	for k := range 256 {
		h, ok := HexFromKey(byte(k))
		if !ok {
			continue
		}
		back, ok := KeyFromHex(h)
		if !ok || back != byte(k) {
			t.Errorf("key %q → hex %q → key %q", byte(k), h, back)
		}
	}
}

func TestBuild(t *testing.T) {
	m, err := Build("1234", "18", "1", "130", "01", "015")
	if err != nil {
		t.Fatal(err)
	}
	if m.Raw != "123418113001015E" {
		t.Fatalf("Build = %s", m.Raw)
	}
	if _, err := Build("123", "18", "1", "130", "01", "015"); err == nil || !strings.Contains(err.Error(), "account") {
		t.Fatalf("short account: %v, want an error naming account", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"123418113001015E", "123418113001015D", "", "BCDEF18160200000", "1234181130010A5E", "*#AB181130010150"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Parse(%q): %v is not ErrFormat", s, err)
			}
			return
		}
		if m.Account+m.Type+m.Qualifier+m.Code+m.Group+m.Zone+string(m.Check) != s {
			t.Fatalf("fields of %q do not reassemble it: %+v", s, m)
		}
		c, err := CheckDigit(s[:15])
		if err != nil {
			t.Fatal(err)
		}
		if m.ChecksumOK() != (c == s[15]) {
			t.Fatalf("%q: ChecksumOK %v but CheckDigit gives %c", s, m.ChecksumOK(), c)
		}
		k, err := ParseKeys(m.Keys())
		if err != nil || k != m {
			t.Fatalf("%q: keys round trip: %+v %v", s, k, err)
		}
	})
}
