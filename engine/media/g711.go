package media

import "github.com/edgebridge/edgebridge/dsp"

// decode and encode are the only G.711 entry points of this package; the
// companding itself is dsp's.
func (c Codec) decode(dst []int16, src []byte) {
	if c == PCMA {
		dsp.AlawDecode(dst, src)
	} else {
		dsp.UlawDecode(dst, src)
	}
}

func (c Codec) encode(dst []byte, src []int16) {
	if c == PCMA {
		dsp.AlawEncode(dst, src)
	} else {
		dsp.UlawEncode(dst, src)
	}
}
