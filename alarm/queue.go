package alarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Queue takes an event for delivery. Enqueue returns nil only once the event
// is durably stored (written and fsynced), because the receiver sends the
// kissoff on that return: an acknowledged alarm must survive a power cut.
// Enqueueing an event whose ID is already queued must succeed without a
// second copy (a panel repeats a message whose kissoff it missed).
type Queue interface {
	Enqueue(ctx context.Context, ev Event) error
}

// QueueFunc adapts a function to Queue.
type QueueFunc func(ctx context.Context, ev Event) error

// Enqueue calls f.
func (f QueueFunc) Enqueue(ctx context.Context, ev Event) error { return f(ctx, ev) }

// EventID derives a stable event id from the parts that identify one
// message: the domain, the call it arrived in and its raw text. A panel that
// repeats a message in the same call (it missed the kissoff) produces the
// same id, so delivery can drop the duplicate.
func EventID(domain, callID string, proto Protocol, raw string) string {
	h := sha256.New()
	for _, s := range []string{domain, callID, string(proto), raw} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [32]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
