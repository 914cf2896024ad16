package dsp

import "github.com/zaf/g711"

// G.711 (ITU-T G.711) companding in batches over caller buffers. The
// per-sample functions of github.com/zaf/g711 are table lookups; its batch
// functions allocate, so the loops live here.

// AlawDecode expands A-law bytes into dst and returns the number of samples
// written: min(len(dst), len(src)).
func AlawDecode(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = g711.DecodeAlawFrame(b)
	}
	return n
}

// UlawDecode expands µ-law bytes into dst and returns the number of samples
// written: min(len(dst), len(src)).
func UlawDecode(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = g711.DecodeUlawFrame(b)
	}
	return n
}

// AlawEncode compresses linear samples into A-law bytes in dst and returns
// the number of bytes written: min(len(dst), len(src)).
func AlawEncode(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = g711.EncodeAlawFrame(s)
	}
	return n
}

// UlawEncode compresses linear samples into µ-law bytes in dst and returns
// the number of bytes written: min(len(dst), len(src)).
func UlawEncode(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = g711.EncodeUlawFrame(s)
	}
	return n
}
