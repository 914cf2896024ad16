package hal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	// Only the kernel's GPIO character device driver (gpiochipN, uapi v2):
	// it serves every SoC with an upstream driver, and leaving out periph's
	// memory-mapped SoC drivers (host/v3's full set) saves ~0.6 MB on ARMv7.
	_ "periph.io/x/host/v3/gpioioctl"
)

// Config names the board's lines. Pin names are GPIO line names as the
// kernel's gpiochip devices report them (gpio-line-names in the device tree;
// `gpioinfo` lists them, e.g. "GPIO17" on a Raspberry Pi); a leading "!"
// marks a line active low. An empty name means the board lacks that part.
type Config struct {
	LEDPower, LEDLine, LEDAlarm, LEDNetwork string
	Hook                                    string // FXS loop-current detect from the SLIC: active = off hook
	Ring                                    string // FXS ringing generator enable
	Tamper                                  string // case tamper switch: active = opened
	Relay                                   string // output relay (e.g. to a siren or door)
	// LineAudio is the FXS codec's PCM path on Linux: a file that reads and
	// writes 16-bit little-endian mono at 8 kHz and paces itself at that
	// rate, e.g. a SLIC driver's character device (ALSA-only codecs need a
	// bridge that offers one read-write file). It is opened read-write for
	// each answered call.
	LineAudio string
	// Watchdog is the watchdog device ("/dev/watchdog"); empty disables.
	Watchdog        string
	WatchdogTimeout time.Duration
}

// DefaultConfig is the reference board's layout (a Raspberry Pi header
// carrying an FXS SLIC HAT).
func DefaultConfig() Config {
	return Config{
		LEDPower: "GPIO5", LEDLine: "GPIO6", LEDAlarm: "GPIO13", LEDNetwork: "GPIO19",
		Hook: "GPIO22", Ring: "GPIO23", Tamper: "!GPIO24", Relay: "GPIO25",
		LineAudio: "/dev/fxs0", Watchdog: "/dev/watchdog", WatchdogTimeout: 15 * time.Second,
	}
}

// Board is the hardware of one gateway, simulated or real.
type Board struct {
	Kind     string // "sim" or "linux"
	LEDs     *LEDs
	Line     Line // nil when the board has no FXS port
	Tamper   Input
	Relay    Output
	Watchdog Watchdog
	// Sim gives tests and `make run` the simulated parts to drive; nil on
	// real hardware.
	Sim *Sim
}

// Sim holds the simulated parts of a "sim" board.
type Sim struct {
	Pins     map[string]*SimPin // by Config field: "LEDPower", "Hook", "Tamper", ...
	Line     *SimLine
	Watchdog *SimWatchdog
}

// Open builds the board: kind "sim" (everything simulated, for a PC) or
// "linux" (GPIO through periph's host drivers, /dev/watchdog).
func Open(kind string, cfg Config) (*Board, error) {
	if cfg.WatchdogTimeout <= 0 {
		cfg.WatchdogTimeout = 15 * time.Second
	}
	switch kind {
	case "sim":
		return openSim(cfg)
	case "linux":
		return openLinux(cfg)
	}
	return nil, fmt.Errorf("hal: unknown hardware %q (want sim or linux)", kind)
}

func openSim(cfg Config) (*Board, error) {
	s := &Sim{Pins: map[string]*SimPin{}}
	for i, n := range []string{"LEDPower", "LEDLine", "LEDAlarm", "LEDNetwork", "Hook", "Ring", "Tamper", "Relay"} {
		s.Pins[n] = NewSimPin("sim-"+n, i)
	}
	s.Line = newSimLine(s.Pins["Hook"], s.Pins["Ring"])
	s.Watchdog = NewSimWatchdog(cfg.WatchdogTimeout, nil)
	tamper, _ := newInput(s.Pins["Tamper"], false)
	relay, _ := newOutput(s.Pins["Relay"], false)
	return &Board{
		Kind:     "sim",
		LEDs:     NewLEDs(s.Pins["LEDPower"], s.Pins["LEDLine"], s.Pins["LEDAlarm"], s.Pins["LEDNetwork"]),
		Line:     s.Line,
		Tamper:   tamper,
		Relay:    relay,
		Watchdog: s.Watchdog,
		Sim:      s,
	}, nil
}

func openLinux(cfg Config) (*Board, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("hal: GPIO drivers: %w", err)
	}
	var errs []error
	pin := func(field, name string) (gpio.PinIO, bool) {
		if name == "" {
			return nil, false
		}
		low := strings.HasPrefix(name, "!")
		p := gpioreg.ByName(strings.TrimPrefix(name, "!"))
		if p == nil {
			errs = append(errs, fmt.Errorf("hal: config %s: no GPIO line named %q", field, name))
		}
		return p, low
	}
	out := func(field, name string) gpio.PinOut {
		if p, _ := pin(field, name); p != nil {
			return p
		}
		return nil
	}
	b := &Board{Kind: "linux"}
	leds := [4]gpio.PinOut{out("LEDPower", cfg.LEDPower), out("LEDLine", cfg.LEDLine), out("LEDAlarm", cfg.LEDAlarm), out("LEDNetwork", cfg.LEDNetwork)}

	hookPin, hookLow := pin("Hook", cfg.Hook)
	ringPin, ringLow := pin("Ring", cfg.Ring)
	tamperPin, tamperLow := pin("Tamper", cfg.Tamper)
	relayPin, relayLow := pin("Relay", cfg.Relay)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var err error
	if tamperPin != nil {
		if b.Tamper, err = newInput(tamperPin, tamperLow); err != nil {
			return nil, fmt.Errorf("hal: tamper %s: %w", cfg.Tamper, err)
		}
	} else {
		b.Tamper = absentInput{}
	}
	if relayPin != nil {
		if b.Relay, err = newOutput(relayPin, relayLow); err != nil {
			return nil, fmt.Errorf("hal: relay %s: %w", cfg.Relay, err)
		}
	} else {
		b.Relay = &absentOutput{}
	}
	if hookPin != nil && ringPin != nil {
		hook, err := newInput(hookPin, hookLow)
		if err != nil {
			return nil, fmt.Errorf("hal: hook %s: %w", cfg.Hook, err)
		}
		ring, err := newOutput(ringPin, ringLow)
		if err != nil {
			return nil, fmt.Errorf("hal: ring %s: %w", cfg.Ring, err)
		}
		dev := cfg.LineAudio
		b.Line = &fxsLine{hook: hook, ring: ring, audio: func() (io.Reader, io.Writer, io.Closer, error) {
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("hal: FXS audio: %w", err)
			}
			return f, f, f, nil
		}}
	}
	if cfg.Watchdog != "" {
		if b.Watchdog, err = OpenLinuxWatchdog(cfg.Watchdog, cfg.WatchdogTimeout); err != nil {
			return nil, err
		}
	} else {
		b.Watchdog = NewSimWatchdog(cfg.WatchdogTimeout, nil) // nothing to reset: a no-op twin
	}
	b.LEDs = NewLEDs(leds[0], leds[1], leds[2], leds[3])
	return b, nil
}

// Close stops the LED goroutine and disarms the watchdog where the driver
// allows (a clean shutdown must not reset the board).
func (b *Board) Close() error {
	var errs []error
	if b.LEDs != nil {
		errs = append(errs, b.LEDs.Close())
	}
	if b.Watchdog != nil {
		errs = append(errs, b.Watchdog.Close())
	}
	return errors.Join(errs...)
}

type absentInput struct{}

func (absentInput) Active() bool { return false }
func (absentInput) WaitChange(ctx context.Context) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

type absentOutput struct{}

func (*absentOutput) Set(bool) error { return errors.New("hal: output not fitted") }
func (*absentOutput) On() bool       { return false }
