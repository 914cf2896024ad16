// Package hal is the gateway's hardware behind small interfaces: status LEDs
// with blink patterns, the FXS line (hook, ring and its audio as a call
// Channel), the tamper input, the relay output and the hardware watchdog.
//
// Each part has a Linux implementation (GPIO lines through periph.io's gpiochip driver, the watchdog
// through /dev/watchdog) and a simulated twin that tests and `make run` use,
// in the spirit of periph's gpiotest. Open("sim"|"linux", cfg) builds a Board;
// pin names come from Config so one binary serves several board layouts.
package hal
