package dsp

import "math"

// RefPeak0dBm0 is the peak of a 0 dBm0 sine in 16-bit linear PCM. G.711
// full scale is +3.14 dBm0 (ITU-T G.711 table 1/2), so 0 dBm0 is a sine of
// peak 32768·10^(−3.14/20) ≈ 22 700.
const RefPeak0dBm0 = 22700.0

// refPower is the mean square of a 0 dBm0 sine.
const refPower = RefPeak0dBm0 * RefPeak0dBm0 / 2

// Amplitude returns the peak of a sine at level dBm0.
func Amplitude(dBm0 float64) float64 { return RefPeak0dBm0 * math.Pow(10, dBm0/20) }

// PowerToDBm0 converts a mean square value (linear PCM units squared) into
// dBm0. Silence gives −Inf.
func PowerToDBm0(meanSquare float64) float64 { return 10 * math.Log10(meanSquare/refPower) }

// LevelDBm0 is the level of pcm in dBm0 (mean power over the slice). An
// empty or silent slice gives −Inf.
func LevelDBm0(pcm []int16) float64 {
	if len(pcm) == 0 {
		return math.Inf(-1)
	}
	var e float64
	for _, s := range pcm {
		v := float64(s)
		e += v * v
	}
	return PowerToDBm0(e / float64(len(pcm)))
}
