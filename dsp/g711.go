package dsp

import "github.com/zaf/g711"

// G.711 (ITU-T G.711) companding in batches over caller buffers. The
// per-sample functions of github.com/zaf/g711 are table lookups; its batch
// functions allocate, so the loops live here.

// AlawDecode expands A-law bytes into dst and returns the number of samples
// written: min(len(dst), len(src)).
func AlawDecode(dst []int16, src []byte) int { return each(dst, src, g711.DecodeAlawFrame) }

// UlawDecode expands µ-law bytes into dst and returns the number of samples
// written: min(len(dst), len(src)).
func UlawDecode(dst []int16, src []byte) int { return each(dst, src, g711.DecodeUlawFrame) }

// AlawEncode compresses linear samples into A-law bytes in dst and returns
// the number of bytes written: min(len(dst), len(src)).
func AlawEncode(dst []byte, src []int16) int { return each(dst, src, g711.EncodeAlawFrame) }

// UlawEncode compresses linear samples into µ-law bytes in dst and returns
// the number of bytes written: min(len(dst), len(src)).
func UlawEncode(dst []byte, src []int16) int { return each(dst, src, g711.EncodeUlawFrame) }

// each sets dst[i] = f(src[i]) over the shorter of the two and returns how
// many it set.
func each[S, D any](dst []D, src []S, f func(S) D) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = f(s)
	}
	return n
}
