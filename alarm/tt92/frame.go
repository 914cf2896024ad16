package tt92

import (
	"errors"
	"fmt"

	"github.com/edgebridge/edgebridge/dsp"
)

// Variant selects the prompt and acknowledge keys.
type Variant struct {
	Name   string
	Prompt string // the receiver's request for a frame
	Ack    string // the receiver's acknowledge
}

var (
	// TT92: prompt 0#, acknowledge B0 (unconfirmed).
	TT92 = Variant{Name: "tt92", Prompt: "0#", Ack: "B0"}
	// TTnew: prompt and acknowledge DB (unconfirmed).
	TTnew = Variant{Name: "ttnew", Prompt: "DB", Ack: "DB"}
)

const (
	// FrameKeys is a frame as heard: "D#" and 22 characters.
	FrameKeys = 24
	// Header opens every frame.
	Header = "D#"
	// KeyMs is the length of each key of prompts and acknowledges (80 ms).
	KeyMs = 80
	// Clear is sent to clear the unit down at the end of the call.
	Clear = "##"
)

// ErrFormat is a frame of the wrong length, without its header, or with a
// non-DTMF key.
var ErrFormat = errors.New("tt92: malformed frame")

// Frame is one TT92 frame: D# T R G C IIIIIIIIIIII PPPP KK.
type Frame struct {
	Raw      string // all 24 keys
	Type     string
	Reserved string
	Generic  string // 2 or 3: grouped scheme
	CallCode string
	Identity string // 12 digits: the unit
	Padding  string
	Check    string // proprietary checksum, kept as heard
}

// Parse checks the form of a frame and splits it.
func Parse(keys string) (Frame, error) {
	if len(keys) != FrameKeys {
		return Frame{}, fmt.Errorf("%w: %d keys, want %d", ErrFormat, len(keys), FrameKeys)
	}
	if keys[:2] != Header {
		return Frame{}, fmt.Errorf("%w: starts %q, want %q", ErrFormat, keys[:2], Header)
	}
	for i := 0; i < len(keys); i++ {
		if !dsp.IsDTMFKey(keys[i]) {
			return Frame{}, fmt.Errorf("%w: %q at position %d is not a DTMF key", ErrFormat, keys[i], i+1)
		}
	}
	return Frame{Raw: keys, Type: keys[2:3], Reserved: keys[3:4], Generic: keys[4:5], CallCode: keys[5:6],
		Identity: keys[6:18], Padding: keys[18:22], Check: keys[22:24]}, nil
}
