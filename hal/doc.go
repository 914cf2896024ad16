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
// # Seams
//
// A call on the FXS line (Line.Answer) is a *Call that satisfies the alarm
// Channel without importing alarm; Board.Run takes a Healthy func, and the
// watchdog is fed only while it says so (the daemon passes its one health
// check). The gateway (cmd/edgebridge/internal/gateway) opens the Board and
// answers the line; the console drives lamps, relay and line.
package hal
