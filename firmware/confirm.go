package firmware

import (
	"context"
	"time"
)

// ConfirmWhenHealthy is run by a daemon started from an image on trial: it
// calls healthy every interval until it returns nil (store opens, SIP and
// HTTP listening), then confirms the image. If timeout passes first it
// returns ErrNotConfirmed; the daemon should then exit non-zero so the
// service manager restarts it and Boot returns to the old slot.
func ConfirmWhenHealthy(ctx context.Context, s *Slots, timeout, interval time.Duration, healthy func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := healthy(); err == nil {
			return s.Confirm()
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return ErrNotConfirmed
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
