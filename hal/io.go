package hal

import (
	"context"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Input is a digital input such as the tamper switch; Active is true when
// the switch reports the condition (case opened).
type Input interface {
	// Active reports the current state.
	Active() bool
	// WaitChange blocks until the state changes and returns the new state.
	WaitChange(ctx context.Context) (bool, error)
}

// Output is a digital output such as the relay; true means energised.
type Output interface {
	// Set energises (true) or releases (false) the output.
	Set(on bool) error
	// On reports the last state set.
	On() bool
}

// edgePoll bounds how long WaitChange sleeps in the driver before checking
// its context: periph's WaitForEdge cannot be cancelled.
const edgePoll = 100 * time.Millisecond

type gpioInput struct {
	p         gpio.PinIO
	activeLow bool
}

func newInput(p gpio.PinIO, activeLow bool) (*gpioInput, error) {
	pull := gpio.PullDown
	if activeLow {
		pull = gpio.PullUp
	}
	if err := p.In(pull, gpio.BothEdges); err != nil {
		return nil, err
	}
	return &gpioInput{p: p, activeLow: activeLow}, nil
}

func (in *gpioInput) Active() bool { return bool(in.p.Read()) != in.activeLow }

func (in *gpioInput) WaitChange(ctx context.Context) (bool, error) {
	was := in.Active()
	for {
		if err := ctx.Err(); err != nil {
			return was, err
		}
		in.p.WaitForEdge(edgePoll)
		// Re-read rather than trust the edge: contact bounce gives edges
		// that end where they started.
		if now := in.Active(); now != was {
			return now, nil
		}
	}
}

type gpioOutput struct {
	p         gpio.PinIO
	activeLow bool
	on        atomic.Bool
}

func newOutput(p gpio.PinIO, activeLow bool) (*gpioOutput, error) {
	o := &gpioOutput{p: p, activeLow: activeLow}
	return o, o.Set(false)
}

func (o *gpioOutput) Set(on bool) error {
	if err := o.p.Out(gpio.Level(on != o.activeLow)); err != nil {
		return err
	}
	o.on.Store(on)
	return nil
}

func (o *gpioOutput) On() bool { return o.on.Load() }
