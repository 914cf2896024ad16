// Package sdp parses and builds session descriptions (RFC 8866) and runs the
// offer/answer model (RFC 3264) for the audio the gateway speaks: PCMA, PCMU
// and telephone-event (RFC 4733), optionally protected with SRTP keyed by SDES
// (RFC 4568 a=crypto). Anything else is declined with a clear reason.
//
// It imports nothing of ours; engine and engine/media build on it.
package sdp
