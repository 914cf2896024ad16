// Package audiofile reads and writes the audio files edgebridge accepts:
// WAV (16-bit linear PCM, G.711 A-law or µ-law; mono; 8 kHz) and raw
// headerless A-law or µ-law. Anything else is refused with an error that
// says what the file is and what was expected. Reader streams a file in
// fixed-size chunks, so that a recording of hours is read in the memory of
// one of seconds.
//
// It imports only dsp (G.711) and the standard library; the commands dtmf
// and decode and the simulated FXS line (hal) read through it.
package audiofile
