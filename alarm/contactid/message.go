package contactid

import (
	"errors"
	"fmt"
	"strings"
)

// MessageDigits is the length of a Contact ID message: ACCT MT Q EEE GG CCC S
// (SIA DC-05 §2.1).
const MessageDigits = 16

var (
	// ErrFormat is a message of the wrong length or with a character that is
	// not one of the hex digits 0-9, B-F.
	ErrFormat = errors.New("contactid: malformed message")
	// ErrChecksum is a message whose digit values do not sum to a multiple of 15.
	ErrChecksum = errors.New("contactid: bad checksum")
	// ErrMessageType is a message type other than 18 or 98.
	ErrMessageType = errors.New("contactid: unknown message type")
)

// Message is one Contact ID message in the hex notation of the standard
// (digits 0-9 and B-F; hex A is not used).
type Message struct {
	Raw       string // all 16 hex digits, e.g. "123418113001015E"
	Account   string // 4
	Type      string // "18" (or "98")
	Qualifier string // 1 new event/opening, 3 restore/closing, 6 still present
	Code      string // 3
	Group     string // 2, "00" = none
	Zone      string // 3, zone or user number
	Check     byte   // the check digit
}

// value is a digit's weight in the checksum: 0 counts 10, 1-9 their value,
// B-F 11-15 (SIA DC-05 §2.1.4). It returns 0 for anything else.
func value(c byte) int {
	switch {
	case c == '0':
		return 10
	case c >= '1' && c <= '9':
		return int(c - '0')
	case c >= 'B' && c <= 'F':
		return int(c-'B') + 11
	}
	return 0
}

// HexFromKey maps a DTMF key to the hex digit it carries: * # A B C travel
// for hex B C D E F (SIA DC-05 §2.1.4). ok is false for D and anything else.
func HexFromKey(key byte) (hex byte, ok bool) {
	switch {
	case key >= '0' && key <= '9':
		return key, true
	case key == '*':
		return 'B', true
	case key == '#':
		return 'C', true
	case key >= 'A' && key <= 'C':
		return key - 'A' + 'D', true
	}
	return 0, false
}

// KeyFromHex is the inverse of HexFromKey.
func KeyFromHex(hex byte) (key byte, ok bool) {
	switch {
	case hex >= '0' && hex <= '9':
		return hex, true
	case hex == 'B':
		return '*', true
	case hex == 'C':
		return '#', true
	case hex >= 'D' && hex <= 'F':
		return hex - 'D' + 'A', true
	}
	return 0, false
}

// CheckDigit returns the digit that makes the 15 given hex digits a valid
// message: the sum of all 16 values must be a multiple of 15, where a check
// value of 15 is sent as F and 10 as 0 (SIA DC-05 §2.1.4).
func CheckDigit(first15 string) (byte, error) {
	if len(first15) != MessageDigits-1 {
		return 0, fmt.Errorf("%w: %d digits before the check digit, want %d", ErrFormat, len(first15), MessageDigits-1)
	}
	sum := 0
	for i := 0; i < len(first15); i++ {
		v := value(first15[i])
		if v == 0 {
			return 0, fmt.Errorf("%w: character %q at position %d is not 0-9 or B-F", ErrFormat, first15[i], i+1)
		}
		sum += v
	}
	need := (15 - sum%15) % 15
	switch need {
	case 0:
		return 'F', nil
	case 10:
		return '0', nil
	}
	if need < 10 {
		return byte('0' + need), nil
	}
	return byte('B' + need - 11), nil
}

// Build makes a valid message from its fields (hex digits), adding the check digit.
func Build(account, msgType, qualifier, code, group, zone string) (Message, error) {
	body := account + msgType + qualifier + code + group + zone
	for _, f := range []struct {
		name, v string
		n       int
	}{{"account", account, 4}, {"message type", msgType, 2}, {"qualifier", qualifier, 1}, {"event code", code, 3}, {"group", group, 2}, {"zone", zone, 3}} {
		if len(f.v) != f.n {
			return Message{}, fmt.Errorf("%w: %s %q must be %d digits", ErrFormat, f.name, f.v, f.n)
		}
	}
	c, err := CheckDigit(body)
	if err != nil {
		return Message{}, err
	}
	return Parse(body + string(c))
}

// Parse splits a 16-digit hex message into its fields. It checks only the
// form (length and characters); Validate checks checksum and type, so that a
// damaged message can still be shown with its fields.
func Parse(raw string) (Message, error) {
	if len(raw) != MessageDigits {
		return Message{}, fmt.Errorf("%w: %d digits, want %d", ErrFormat, len(raw), MessageDigits)
	}
	for i := 0; i < len(raw); i++ {
		if value(raw[i]) == 0 {
			return Message{}, fmt.Errorf("%w: character %q at position %d is not 0-9 or B-F", ErrFormat, raw[i], i+1)
		}
	}
	return Message{
		Raw:       raw,
		Account:   raw[0:4],
		Type:      raw[4:6],
		Qualifier: raw[6:7],
		Code:      raw[7:10],
		Group:     raw[10:12],
		Zone:      raw[12:15],
		Check:     raw[15],
	}, nil
}

// ParseKeys parses a message as heard: 16 DTMF keys (0-9 * # A B C).
func ParseKeys(keys string) (Message, error) {
	if len(keys) != MessageDigits {
		return Message{}, fmt.Errorf("%w: %d digits, want %d", ErrFormat, len(keys), MessageDigits)
	}
	var b [MessageDigits]byte
	for i := 0; i < len(keys); i++ {
		h, ok := HexFromKey(keys[i])
		if !ok {
			return Message{}, fmt.Errorf("%w: DTMF key %q at position %d carries no Contact ID digit", ErrFormat, keys[i], i+1)
		}
		b[i] = h
	}
	return Parse(string(b[:]))
}

// Keys returns the DTMF keys that carry the message.
func (m Message) Keys() string {
	var b strings.Builder
	for i := 0; i < len(m.Raw); i++ {
		k, _ := KeyFromHex(m.Raw[i])
		b.WriteByte(k)
	}
	return b.String()
}

// ChecksumOK reports whether the digit values sum to a multiple of 15.
func (m Message) ChecksumOK() bool { return checksumOK(m.Raw) }

func checksumOK(raw string) bool {
	if len(raw) != MessageDigits {
		return false
	}
	sum := 0
	for i := 0; i < len(raw); i++ {
		v := value(raw[i])
		if v == 0 {
			return false
		}
		sum += v
	}
	return sum%15 == 0
}

// Validate reports why the receiver must not acknowledge the message, or nil.
func (m Message) Validate() error {
	if !m.ChecksumOK() {
		return fmt.Errorf("%w: %s", ErrChecksum, m.Raw)
	}
	if m.Type != "18" && m.Type != "98" {
		return fmt.Errorf("%w %q in %s (want 18 or 98)", ErrMessageType, m.Type, m.Raw)
	}
	return nil
}

// ListenIn reports event 606, "listen-in to follow": the panel expects a
// voice path after the kissoff.
func (m Message) ListenIn() bool { return m.Code == "606" }
