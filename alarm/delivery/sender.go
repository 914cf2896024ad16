package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgebridge/edgebridge/alarm"
)

// Sender delivers events over one endpoint. Send returns nil only when the
// far end acknowledged the event; an error wrapped with Permanent means the
// far end will never take this event (it goes to the dead letters), any
// other error is retried.
type Sender interface {
	Send(ctx context.Context, ev alarm.Event) error
	// Probe checks the path without delivering anything (DC-09 NULL, HTTP HEAD).
	Probe(ctx context.Context) error
	Close() error
}

// SenderFactory makes a Sender for an endpoint of its protocol.
type SenderFactory func(ep Endpoint) (Sender, error)

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as final for this event: retrying cannot help.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

func defaultFactory(ep Endpoint) (Sender, error) {
	switch ep.Protocol {
	case ProtoHTTP:
		return newHTTPSender(ep)
	case ProtoDC09:
		return newDC09Sender(ep)
	}
	return nil, fmt.Errorf("delivery: no sender for protocol %q (register one with WithSender)", ep.Protocol)
}
