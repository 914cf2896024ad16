package alarm

import "context"

// Call is what a receiver knows about the call it runs on.
type Call struct {
	ID     string // SIP Call-ID, or the FXS line's call serial
	Domain string // tenant the called number belongs to
	Caller string // calling number (CLI), if any
	Called string // called number, as matched against destinationMatch
}

// Receiver is an alarm protocol's receiving side, run on one call. It
// returns when the protocol is done with the call (the alarm unit hung up,
// or went quiet, or asked for a voice path); it does not hang up itself, so
// the caller can bridge voice or clear down as the outcome says.
type Receiver interface {
	Receive(ctx context.Context, ch Channel, call Call, q Queue) (Outcome, error)
}

// Clearer is a Receiver that leaves the clear-down of the unit to its
// caller, who knows (after mapping) whether a voice call follows: Clear
// sends the protocol's clear-down signal on ch when none does. A unit
// cleared before the voice call would hang up on the ARC.
type Clearer interface {
	Clear(ctx context.Context, ch Channel) error
}

// Outcome is what a receiver did on a call.
type Outcome struct {
	Events          []Event // acknowledged to the alarm unit, in order; repeats once
	Handshakes      int     // handshake tones (or data requests) sent
	Messages        int     // messages heard, valid or not, repeats included
	BadMessages     int     // heard but not valid (checksum, format): not acknowledged
	EnqueueFailures int     // valid, but the queue refused them: not acknowledged
	// ListenIn is set when the alarm unit expects a voice path now
	// (Contact ID 606): the caller bridges the call to the voice destination.
	ListenIn bool
	Reason   string // why the receiver stopped: "hangup", "idle", "no message", "listen-in"
}

// Outcome reasons.
const (
	ReasonHangup    = "hangup"     // the alarm unit hung up
	ReasonIdle      = "idle"       // messages were received, then nothing more came
	ReasonNoMessage = "no message" // no valid message after all handshakes
	ReasonListenIn  = "listen-in"  // the unit asked for a voice path
)
