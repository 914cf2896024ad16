// Package softphone runs baresip 1.0 (Debian baresip) as a SIP handset in
// tests: a phone with its own config folder, registered with digest at the
// gateway, whose microphone is a WAV file of one tone, whose recordings of
// what it heard and sent (sndfile) tell which tones crossed the call, and
// which the test drives over the cons module (dial, hang up, send keys) and
// watches through ctrl_tcp's events (CALL_INCOMING, CALL_ESTABLISHED,
// CALL_CLOSED, ...). A phone answering at once reports no CALL_INCOMING.
//
// It is a test helper: imported by _test.go files only. It imports the
// standard library, dsp, dsp/audiofile and internal/testkit (which cannot
// hold it: testkit imports only the standard library, and dsp's own tests
// import testkit).
package softphone
