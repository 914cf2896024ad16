// Package contactid implements Ademco Contact ID (SIA DC-05) over DTMF: the
// message format and checksum, the receiver (the gateway's side of the
// call) and the panel (the alarm unit's side, used by tests and `edgebridge
// simulate`), as state machines over an alarm.Channel.
//
// It imports only the alarm kit and dsp.
//
// # The facts it encodes
//
// Source: SIA DC-05 (Contact ID) as open-source receivers implement it
// (spandsp, Asterisk's app_alarmreceiver); the ranges below are the
// standard's as those receivers quote them.
//
//   - Handshake: 0.5-2 s after answer [1 s], 1400 Hz for 100 ms, 100 ms
//     silence, 2300 Hz for 100 ms (±3 %).
//   - The panel starts 250-300 ms after the handshake: 16 DTMF digits,
//     50-60 ms on, 50-60 ms off, as ACCT MT Q EEE GG CCC S: account (4),
//     message type 18 (or 98), qualifier (1 new event or opening, 3 restore
//     or closing, 6 previously reported and still present), event code (3),
//     group or partition (2, 00 = none), zone or user (3), check digit (1).
//   - Digit values: 0 counts 10, 1-9 count 1-9; the hex digits B-F (11-15)
//     travel as the DTMF keys * # A B C; hex A and the key D are not used.
//     A message is valid when the sum of its 16 values is a multiple of 15
//     (a check value of 15 is F, of 10 is 0). Example: 1234 18 1 130 01 015
//     takes the check digit E: 123418113001015E.
//   - Valid message: after about 200 ms the kissoff, 1400 Hz for
//     750-1000 ms [900 ms]. Invalid: silence, and the panel repeats. The
//     panel needs at least 400 ms of kissoff and repeats when none has
//     started 1.25 s after its last digit; it tries 4 times per call, and
//     the next message follows the kissoff in the same call.
//   - Event 606 announces a listen-in: a voice path is expected.
//   - Common event codes: 100 medical, 101 personal emergency, 110 fire,
//     120 panic, 121 duress, 130 burglary, 137 tamper, 301 AC loss, 302 low
//     battery, 350 communication trouble, 401 open/close by user, 570
//     bypass, 602 periodic test, 606 listen-in, 641 senior watch trouble.
//
// Nothing here is unconfirmed; the receiver's own choices (3 s for the first
// digit, 400 ms between digits, 3 handshakes) are its Config defaults.
//
// The kissoff is sent only after the event's Enqueue returned, that is once
// it is durably queued. The write runs beside the frame loop
// (alarm.PendingWrite), so a slow disk never stops the call's audio; a
// kissoff that could not start within KissoffLatest (900 ms) of the last
// digit is not sent over the panel's repeat: the repeat is kissed off at
// once from the stored event.
package contactid
