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

type queuePositionKey struct{}

// withQueuePosition tells the sender which queue position the event it sends
// holds in its destination's queue. The position is fixed when the event is
// queued and stored with it, so a sender can number the event on the wire
// the same way on every attempt and after a restart (DC-09 sequence).
func withQueuePosition(ctx context.Context, n uint64) context.Context {
	return context.WithValue(ctx, queuePositionKey{}, n)
}

func queuePosition(ctx context.Context) (uint64, bool) {
	n, ok := ctx.Value(queuePositionKey{}).(uint64)
	return n, ok && n > 0
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
