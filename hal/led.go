package hal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// LED names the front-panel lamps.
type LED int

const (
	LEDPower   LED = iota // on when running, blinks while starting or updating
	LEDLine               // FXS line: on while off hook, fast blink while ringing
	LEDAlarm              // alarm in progress or undelivered
	LEDNetwork            // SIP trunk registered / ARC reachable
	numLEDs
)

var ledNames = [numLEDs]string{"power", "line", "alarm", "network"}

func (l LED) String() string {
	if l < 0 || l >= numLEDs {
		return fmt.Sprintf("led(%d)", int(l))
	}
	return ledNames[l]
}

// ParseLED maps "power", "line", "alarm" or "network" to its LED.
func ParseLED(s string) (LED, error) {
	for i, n := range ledNames {
		if n == s {
			return LED(i), nil
		}
	}
	return 0, fmt.Errorf("unknown LED %q (want power, line, alarm or network)", s)
}

// Pattern is a blink pattern: 8 steps of 125 ms, bit 7 first, 1 = lit.
// One period is one second, which keeps patterns readable by eye and lets a
// technician tell them apart across the room.
type Pattern uint8

const (
	Off       Pattern = 0x00
	On        Pattern = 0xFF
	BlinkSlow Pattern = 0xF0 // 1 Hz, half on
	BlinkFast Pattern = 0xAA // 4 Hz
	Flash     Pattern = 0x80 // short blip once a second: standby
	Heartbeat Pattern = 0xA0 // two blips a second: attention
)

var patternNames = map[Pattern]string{Off: "off", On: "on", BlinkSlow: "slow", BlinkFast: "fast", Flash: "flash", Heartbeat: "heartbeat"}

func (p Pattern) String() string {
	if n, ok := patternNames[p]; ok {
		return n
	}
	return fmt.Sprintf("pattern(%#02x)", uint8(p))
}

// ParsePattern maps a pattern name (off, on, slow, fast, flash, heartbeat).
func ParsePattern(s string) (Pattern, error) {
	for p, n := range patternNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown LED pattern %q (want off, on, slow, fast, flash or heartbeat)", s)
}

// LEDStep is the time one bit of a Pattern is shown.
const LEDStep = 125 * time.Millisecond

// LEDs drives the front-panel lamps. Its goroutine, started by NewLEDs and
// stopped by Close, steps each lamp through its pattern; Set is cheap and
// safe from any goroutine.
type LEDs struct {
	pins [numLEDs]gpio.PinOut
	pat  [numLEDs]atomic.Uint32
	lit  [numLEDs]int8 // last level written, -1 unknown; owned by the goroutine

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewLEDs starts driving pins (any may be nil: that lamp is absent).
func NewLEDs(power, line, alarm, network gpio.PinOut) *LEDs {
	l := &LEDs{pins: [numLEDs]gpio.PinOut{power, line, alarm, network}, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range l.lit {
		l.lit[i] = -1
	}
	go l.run()
	return l
}

// Set chooses the pattern of one lamp; it shows from the next step.
func (l *LEDs) Set(led LED, p Pattern) {
	if led >= 0 && led < numLEDs {
		l.pat[led].Store(uint32(p))
	}
}

// Get is the pattern a lamp shows.
func (l *LEDs) Get(led LED) Pattern {
	if led < 0 || led >= numLEDs {
		return Off
	}
	return Pattern(l.pat[led].Load())
}

// Close stops the goroutine and switches every lamp off.
func (l *LEDs) Close() error {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		for _, p := range l.pins {
			if p != nil {
				_ = p.Out(gpio.Low)
			}
		}
	})
	return nil
}

func (l *LEDs) run() {
	defer close(l.done)
	t := time.NewTicker(LEDStep)
	defer t.Stop()
	step := 0
	for {
		l.show(step)
		step = (step + 1) % 8
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
	}
}

// show writes step of every pattern, touching a pin only when it changes.
func (l *LEDs) show(step int) {
	for i, p := range l.pins {
		if p == nil {
			continue
		}
		var want int8
		if Pattern(l.pat[i].Load())&(0x80>>step) != 0 {
			want = 1
		}
		if want != l.lit[i] {
			if p.Out(gpio.Level(want == 1)) == nil {
				l.lit[i] = want
			}
		}
	}
}
