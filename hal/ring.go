package hal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cadence is a ringing pattern: on, off, on, off... times, repeated. The
// national cadence is a setting of the gateway (serve --ring-cadence), not
// of the unit: an alarm unit answers whatever rings it.
type Cadence []time.Duration

// The national ring cadences the gateway knows by name.
var Cadences = map[string]Cadence{
	// 1 s on, 4 s off: most of continental Europe (e.g. Germany, France).
	"europe": {time.Second, 4 * time.Second},
	// 0.4 s on, 0.2 s off, 0.4 s on, 2 s off: the UK's double ring.
	"uk": {400 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second},
	// 2 s on, 4 s off: North America.
	"us": {2 * time.Second, 4 * time.Second},
}

// DefaultCadence is the cadence when none is set.
const DefaultCadence = "europe"

// ParseCadence reads a cadence by name (Cadences) or as on,off,... times in
// milliseconds, an even count of them, each 100 ms to 10 s.
func ParseCadence(s string) (Cadence, error) {
	if s == "" {
		s = DefaultCadence
	}
	if c, ok := Cadences[s]; ok {
		return c, nil
	}
	parts := strings.Split(s, ",")
	if len(parts)%2 != 0 {
		return nil, fmt.Errorf("ring cadence %q: want a name (europe, uk, us) or on,off[,on,off...] in ms", s)
	}
	c := make(Cadence, len(parts))
	for i, p := range parts {
		ms, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || ms < 100 || ms > 10000 {
			return nil, fmt.Errorf("ring cadence %q: %q is not a time of 100 to 10000 ms", s, p)
		}
		c[i] = time.Duration(ms) * time.Millisecond
	}
	return c, nil
}

// RingUntilAnswered rings the unit on line with cadence until it goes off
// hook (nil) or ctx ends (ctx's error). The ringing generator is off when
// it returns, whichever way.
func RingUntilAnswered(ctx context.Context, line Line, cadence Cadence) error {
	if len(cadence) == 0 || len(cadence)%2 != 0 {
		return errors.New("hal: ring cadence needs on and off times")
	}
	defer line.Ring(false)
	for i := 0; ; i = (i + 1) % len(cadence) {
		if line.OffHook() {
			return nil
		}
		if err := line.Ring(i%2 == 0); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, cadence[i])
		err := line.WaitHook(sctx, true)
		cancel()
		switch {
		case err == nil:
			return nil // answered (Answer switches the ringing off too)
		case ctx.Err() != nil:
			return ctx.Err()
		}
	}
}
