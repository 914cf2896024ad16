package media

import (
	"fmt"
	"strings"
)

// Codec is the G.711 law of a leg. Encoding and decoding go through dsp.
type Codec uint8

// Codecs (RFC 3551 §4.5.14).
const (
	PCMU Codec = iota // µ-law, static payload type 0
	PCMA              // A-law, static payload type 8
)

// ParseCodec maps an SDP encoding name to a Codec.
func ParseCodec(name string) (Codec, error) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return PCMU, nil
	case "PCMA":
		return PCMA, nil
	}
	return 0, fmt.Errorf("media: codec %q is not PCMA or PCMU", name)
}

func (c Codec) String() string {
	if c == PCMA {
		return "PCMA"
	}
	return "PCMU"
}

// silence is the code word for 0 (RFC 3551: 0xFF µ-law, 0xD5 A-law).
func (c Codec) silence() byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}
