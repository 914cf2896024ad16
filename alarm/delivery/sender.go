package delivery

import (
	"context"
	"fmt"

	"github.com/edgebridge/edgebridge/alarm"
)

// Sender delivers events over one endpoint. Send returns nil only when the
// far end acknowledged the event; an error wrapped with alarm.Permanent means the
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

func defaultFactory(ep Endpoint) (Sender, error) {
	switch ep.Protocol {
	case ProtoHTTP:
		return newHTTPSender(ep)
	case ProtoDC09:
		return newDC09Sender(ep)
	}
	return nil, fmt.Errorf("delivery: no sender for protocol %q (register one with WithSender)", ep.Protocol)
}
