// Package tt92 implements TT92 and TTnew (Scandinavian social alarm
// protocols over DTMF): the frame, the receiver and the alarm unit, as
// state machines over an alarm.Channel, in DTMF or in the single-tone form
// (STMF, the provisioning schema's protocolMode "sdmf" for tt92).
//
// It imports only the alarm kit and dsp.
//
// # The facts it encodes
//
// Everything here comes from one open-source receiver and is unconfirmed;
// each fact is a constant of frame.go or stmf.go:
//
//   - TT92: the ARC prompts with the DTMF keys 0# (80 ms per key); the unit
//     replies D# and 22 characters: type, reserved, generic (2 or 3 = a
//     grouped scheme), call code, a 12-digit identity, 4 padding, 2
//     checksum characters (a proprietary, table-driven checksum). The ARC
//     acknowledges with B0 and clears with ## (or # held 2 s); 701/702
//     select duplex/simplex speech.
//   - TTnew: the same frame; prompt and acknowledge are DB at 80 ms.
//   - STMF: each key is its DTMF row tone, then its column tone, 75-80 ms
//     each [78 ms], about 5 ms apart.
//
// The checksum cannot be verified here, so the receiver does not trust a
// single reading: it acknowledges a frame only once it has heard the same
// frame twice (the unit repeats a frame it gets no acknowledge for). The
// acknowledge follows the event's durable write, which runs beside the
// frame loop (alarm.PendingWrite); one that could not start within
// Config.AckLatest (500 ms) of the frame's last key is not sent over the
// unit's next repeat, which is acknowledged at once from the stored event.
// The simulated Unit takes an acknowledge only when heard whole within its
// 1 s (a real unit's wait is not public).
package tt92
