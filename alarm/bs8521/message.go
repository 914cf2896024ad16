package bs8521

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// BodyKeys is the message before its checksum: C D TT GGGGGGGG RRRR
	// EEE LL P SS (unconfirmed layout, from an open-source receiver).
	BodyKeys = 24
	// MessageKeys adds the two checksum digits.
	MessageKeys = BodyKeys + 2

	// DataRequestKey and AckKey: the ARC's data request is this key held
	// DataRequestMs, its acknowledge the same key for AckMs (unconfirmed).
	DataRequestKey = 'B'
	AckKey         = 'B'
	DataRequestMs  = 600
	AckMs          = 80
)

// checksumAlphabet gives each key its checksum value: its index here
// (unconfirmed, from an open-source receiver).
const checksumAlphabet = "D1234567890*#ABC"

var (
	// ErrFormat is a message of the wrong length or with a non-DTMF key.
	ErrFormat = errors.New("bs8521: malformed message")
	// ErrChecksum is a message whose checksum digits do not match.
	ErrChecksum = errors.New("bs8521: bad checksum")
)

// Message is one BS 8521 message, as DTMF keys.
type Message struct {
	Raw         string // all 26 keys
	SystemType  string // C
	SpeechMode  string // D
	Conformance string // TT
	Controller  string // GGGGGGGG
	Unit        string // RRRR
	Event       string // EEE
	Location    string // LL
	Priority    string // P
	Status      string // SS
	Checksum    string // 2 decimal digits
}

// Checksum is the sum of the keys' values mod 100, as two digits.
func Checksum(body string) (string, error) {
	sum := 0
	for i := 0; i < len(body); i++ {
		v := strings.IndexByte(checksumAlphabet, body[i])
		if v < 0 {
			return "", fmt.Errorf("%w: %q at position %d is not a DTMF key", ErrFormat, body[i], i+1)
		}
		sum += v
	}
	return fmt.Sprintf("%02d", sum%100), nil
}

// Parse splits a 26-key message. It checks the form only; Validate checks
// the checksum, so that a damaged message can still be shown.
func Parse(raw string) (Message, error) {
	if len(raw) != MessageKeys {
		return Message{}, fmt.Errorf("%w: %d keys, want %d", ErrFormat, len(raw), MessageKeys)
	}
	for i := 0; i < len(raw); i++ {
		if strings.IndexByte(checksumAlphabet, raw[i]) < 0 {
			return Message{}, fmt.Errorf("%w: %q at position %d is not a DTMF key", ErrFormat, raw[i], i+1)
		}
	}
	return Message{
		Raw: raw, SystemType: raw[0:1], SpeechMode: raw[1:2], Conformance: raw[2:4], Controller: raw[4:12],
		Unit: raw[12:16], Event: raw[16:19], Location: raw[19:21], Priority: raw[21:22], Status: raw[22:24], Checksum: raw[24:26],
	}, nil
}

// Validate reports a bad checksum, or nil.
func (m Message) Validate() error {
	c, err := Checksum(m.Raw[:BodyKeys])
	if err != nil {
		return err
	}
	if c != m.Checksum {
		return fmt.Errorf("%w: %s carries %s, its keys sum to %s", ErrChecksum, m.Raw, m.Checksum, c)
	}
	return nil
}

// Build makes a message from its fields, adding the checksum.
func Build(systemType, speechMode, conformance, controller, unit, event, location, priority, status string) (Message, error) {
	for _, f := range []struct {
		name, v string
		n       int
	}{{"system type", systemType, 1}, {"speech mode", speechMode, 1}, {"conformance", conformance, 2}, {"controller", controller, 8},
		{"unit", unit, 4}, {"event", event, 3}, {"location", location, 2}, {"priority", priority, 1}, {"status", status, 2}} {
		if len(f.v) != f.n {
			return Message{}, fmt.Errorf("%w: %s %q must be %d keys", ErrFormat, f.name, f.v, f.n)
		}
	}
	body := systemType + speechMode + conformance + controller + unit + event + location + priority + status
	c, err := Checksum(body)
	if err != nil {
		return Message{}, err
	}
	return Parse(body + c)
}
