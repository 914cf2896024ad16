package nowip

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ContentType is the MIME type of a NOW-IP MESSAGE body.
const ContentType = "text/plain"

// Message types (the <type> field).
const (
	TypeHeartbeat = "0"
	TypeAlarm     = "1"
	TypeCommand   = "2"
	TypeAck       = "A"
)

// MaxBody bounds an <ATM> body: a few short fields, far below a UDP MESSAGE.
const MaxBody = 2048

// ErrFormat is a body that is no <ATM> this package can read.
var ErrFormat = errors.New("nowip: malformed <ATM>")

// Message is one <ATM>, its fields as text.
type Message struct {
	Version string
	Type    string
	Data    string
	Time    string
	MAC     string
}

// Parse reads an <ATM> body, tolerantly (see the package doc): the root
// element must be ATM; its children ver (or version, v), type, data, time
// and mac are read in any case, others are ignored.
func Parse(body []byte) (Message, error) {
	var m Message
	if len(body) > MaxBody {
		return m, fmt.Errorf("%w: %d bytes, at most %d", ErrFormat, len(body), MaxBody)
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	depth, seenRoot := 0, false
	field := (*string)(nil)
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Message{}, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if seenRoot || !strings.EqualFold(t.Name.Local, "ATM") {
					return Message{}, fmt.Errorf("%w: root element <%s>, want <ATM>", ErrFormat, t.Name.Local)
				}
				seenRoot = true
			case depth == 2:
				field = m.field(t.Name.Local)
				text.Reset()
			case depth > 3:
				return Message{}, fmt.Errorf("%w: nested too deep", ErrFormat)
			}
		case xml.EndElement:
			if depth == 2 && field != nil {
				if *field != "" {
					return Message{}, fmt.Errorf("%w: <%s> twice", ErrFormat, t.Name.Local)
				}
				*field = strings.TrimSpace(text.String())
				field = nil
			}
			depth--
		case xml.CharData:
			if depth == 2 && field != nil {
				if text.Len()+len(t) > MaxBody {
					return Message{}, fmt.Errorf("%w: field too long", ErrFormat)
				}
				text.Write(t)
			} else if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return Message{}, fmt.Errorf("%w: text outside <ATM>", ErrFormat)
			}
		}
	}
	if !seenRoot {
		return Message{}, fmt.Errorf("%w: no <ATM> element", ErrFormat)
	}
	if err := m.validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// field is where the child element name goes, nil for one not read.
func (m *Message) field(name string) *string {
	switch strings.ToLower(name) {
	case "ver", "version", "v":
		return &m.Version
	case "type":
		return &m.Type
	case "data":
		return &m.Data
	case "time":
		return &m.Time
	case "mac":
		return &m.MAC
	}
	return nil
}

// validate checks the fields every type shares and normalises the type.
func (m *Message) validate() error {
	if len(m.Type) != 1 {
		return fmt.Errorf("%w: <type> %q: want one character", ErrFormat, m.Type)
	}
	m.Type = strings.ToUpper(m.Type)
	if c := m.Type[0]; !(c >= '0' && c <= '9' || c == 'A') {
		return fmt.Errorf("%w: <type> %q: want 0-9 or A", ErrFormat, m.Type)
	}
	if len(m.Version) > 16 || !printable(m.Version) {
		return fmt.Errorf("%w: <ver> %q", ErrFormat, m.Version)
	}
	if len(m.Time) > 40 || !printable(m.Time) {
		return fmt.Errorf("%w: <time> %q", ErrFormat, m.Time)
	}
	if len(m.MAC) > 256 || !printable(m.MAC) {
		return fmt.Errorf("%w: <mac> of %d characters", ErrFormat, len(m.MAC))
	}
	if len(m.Data) > 64 {
		return fmt.Errorf("%w: <data> of %d characters", ErrFormat, len(m.Data))
	}
	for i := 0; i < len(m.Data); i++ {
		if !strings.ContainsRune(dtmfKeys, rune(m.Data[i])) {
			return fmt.Errorf("%w: <data> %q: %q is not a DTMF key", ErrFormat, m.Data, m.Data[i])
		}
	}
	return nil
}

const dtmfKeys = "0123456789*#ABCD"

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Marshal writes the <ATM> body: <ver>, <type>, <data>, then <time> and
// <mac> when set.
func (m Message) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("<ATM>")
	for _, f := range []struct{ name, v string }{{"ver", m.Version}, {"type", m.Type}, {"data", m.Data}, {"time", m.Time}, {"mac", m.MAC}} {
		if f.v == "" && (f.name == "time" || f.name == "mac") {
			continue
		}
		b.WriteString("<" + f.name + ">")
		_ = xml.EscapeText(&b, []byte(f.v)) // a bytes.Buffer does not fail
		b.WriteString("</" + f.name + ">")
	}
	b.WriteString("</ATM>")
	return b.Bytes()
}

// The time layouts read, in the order tried; the first is written when the
// unit used none of them.
var timeLayouts = []string{"20060102150405", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05"}

// ParseTime reads an <ATM> time; the layout is "unix" for Unix seconds, ""
// when the text is in no layout known here.
func ParseTime(s string) (t time.Time, layout string) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, l
		}
	}
	if n := len(s); n >= 9 && n <= 11 && strings.Trim(s, "0123456789") == "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(sec, 0).UTC(), "unix"
		}
	}
	return time.Time{}, ""
}

// FormatTime writes t in layout (as ParseTime returns it; "" for the
// default), in UTC.
func FormatTime(t time.Time, layout string) string {
	switch layout {
	case "unix":
		return strconv.FormatInt(t.Unix(), 10)
	case "":
		layout = timeLayouts[0]
	}
	return t.UTC().Format(layout)
}

// Ack is the acknowledgement of m sent at now: type A, m's version and
// data, the time in m's layout.
func Ack(m Message, now time.Time) Message {
	_, layout := ParseTime(m.Time)
	return Message{Version: cmpOr(m.Version, "1"), Type: TypeAck, Data: m.Data, Time: FormatTime(now, layout)}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
