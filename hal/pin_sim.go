package hal

import (
	"errors"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
)

// SimPin is a simulated GPIO line implementing gpio.PinIO. Tests and the
// simulated board drive inputs with Drive and watch outputs with Level and
// Transitions.
type SimPin struct {
	name string
	num  int

	mu          sync.Mutex
	level       gpio.Level
	pull        gpio.Pull
	transitions int
	edge        chan struct{} // signalled (non-blocking, cap 1) on every level change
}

// NewSimPin returns a simulated line at level Low.
func NewSimPin(name string, num int) *SimPin {
	return &SimPin{name: name, num: num, edge: make(chan struct{}, 1)}
}

var _ gpio.PinIO = (*SimPin)(nil)

func (p *SimPin) String() string   { return p.name }
func (p *SimPin) Halt() error      { return nil }
func (p *SimPin) Name() string     { return p.name }
func (p *SimPin) Number() int      { return p.num }
func (p *SimPin) Function() string { return string(p.Func()) }

// Func reports IN or OUT the way a real line would after In or Out.
func (p *SimPin) Func() pin.Func { return gpio.IN }

func (p *SimPin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

func (p *SimPin) SetFunc(f pin.Func) error {
	return errors.New("hal: simulated pin: SetFunc not supported")
}

// In sets the pull; a simulated input keeps its driven level.
func (p *SimPin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	p.pull = pull
	p.mu.Unlock()
	return nil
}

func (p *SimPin) Read() gpio.Level {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

// WaitForEdge waits for the next level change; timeout -1 waits forever.
func (p *SimPin) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		<-p.edge
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.edge:
		return true
	case <-t.C:
		return false
	}
}

func (p *SimPin) Pull() gpio.Pull        { p.mu.Lock(); defer p.mu.Unlock(); return p.pull }
func (p *SimPin) DefaultPull() gpio.Pull { return gpio.Float }

// Out drives the line as an output.
func (p *SimPin) Out(l gpio.Level) error { p.set(l); return nil }

func (p *SimPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("hal: simulated pin: PWM not supported")
}

// Drive sets the level from outside, as the wired hardware would (a tamper
// switch opening, the alarm unit lifting its handset).
func (p *SimPin) Drive(l gpio.Level) { p.set(l) }

// Level is the current level.
func (p *SimPin) Level() gpio.Level { return p.Read() }

// Transitions counts level changes since the pin was made.
func (p *SimPin) Transitions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.transitions
}

func (p *SimPin) set(l gpio.Level) {
	p.mu.Lock()
	changed := p.level != l
	p.level = l
	if changed {
		p.transitions++
	}
	p.mu.Unlock()
	if changed {
		select {
		case p.edge <- struct{}{}:
		default:
		}
	}
}
