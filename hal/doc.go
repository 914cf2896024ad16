// Package hal is the gateway's hardware behind small interfaces: status LEDs
// with blink patterns, the FXS line (hook, ring and its audio as a call
// Channel), the tamper input, the relay output and the hardware watchdog.
//
// Each part has a Linux implementation (GPIO lines through periph.io's gpiochip driver, the watchdog
// through /dev/watchdog) and a simulated twin that tests and `make run` use,
// in the spirit of periph's gpiotest. Open("sim"|"linux", cfg) builds a Board;
// pin names come from Config so one binary serves several board layouts.
//
// It imports only dsp (the line's tones and G.711, and dsp/audiofile for the
// simulated line's WAV spool), the GPIO driver (periph.io), and
// golang.org/x/sys/unix for the watchdog ioctls.
//
// # Ringing the unit
//
// A call to the unit (the ARC calling it back) rings the line with the
// national cadence, a setting (ParseCadence: europe 1 s on 4 s off, uk
// 0.4/0.2/0.4/2 s, us 2 s on 4 s off, or on,off,... in ms), until the unit
// goes off hook (RingUntilAnswered). The simulated line's pretend unit can be
// armed to answer at the n-th ring burst, as social alarm units answer their
// ARC's call back: every ringing (SimLine.AnswerRinging, with the audio of
// each call from a PickUp, and each burst reported), or the next one only
// (SimLine.AutoAnswer). A burst after 12 s without ringing starts a new
// count, as a unit's ring counter forgets a ringing that stopped.
//
// # Seams
//
// A call on the FXS line (Line.Answer) is a *Call that satisfies the alarm
// Channel without importing alarm; Board.Run takes a Healthy func, and the
// watchdog is fed only while it says so (the daemon passes its one health
// check). The gateway (cmd/edgebridge/internal/gateway) opens the Board and
// answers the line; the console drives lamps, relay and line.
package hal
