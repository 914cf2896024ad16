// Package nowip is BS 8521-2 ("NOW-IP"): social alarm messages carried as
// an <ATM> body in SIP MESSAGE requests. It parses and formats <ATM>, and
// its Handler is the receiving side the gateway runs for an alarmbridge of
// protocol nowip or nowipcontroller: a unit's alarm (type 1) is queued and
// only then answered 200, and acknowledged with an <ATM> of type A; a
// heartbeat (type 0) feeds supervision and is acknowledged the same way;
// a command (type 2) goes the other way, from the ARC to the unit.
//
// It imports only the alarm kit and alarm/bs8521 (the 24-digit data is BS
// 8521's message, decoded there and nowhere else).
//
// # What is certain, and what is the gateway's reading
//
// Certain (public, and the same in every source): BS 8521-2:2020 "Social
// alarm systems. IP signalling protocols. Specification for NOW-IP" (BSI,
// 32 pages; its summary at
// https://en-standard.eu/bs-8521-2-2020-social-alarm-systems-ip-signalling-protocols-specification-for-now-ip)
// covers point-to-point alarms, faults, control signals and communications
// monitoring over IP, the speech path and control commands, and the
// selection of local units in grouped equipment; "the alarm protocol is
// defined as an XML scheme including the alarm types, codes and necessary
// additional information"; the transport "initially defined" is SIP. The
// message is a SIP MESSAGE with a text/plain body <ATM> that carries five
// fields: a version, a type (1 alarm, 0 heartbeat, 2 command, A
// acknowledgement), the data (for an alarm, the 24 BS 8521 digits C D TT
// GGGGGGGG RRRR EEE LL P SS), a time and a mac.
//
// From one open-source NOW-IP consumer (Node.js), not the standard, so
// likely but unconfirmed: <ATM> is XML with one child element per field
// (it reads ATM.type and ATM.data); further types from "BS8521-2 table
// 10" (5 reject, 6 busy, 7 commanded, 8 program, 9 programmed); a
// command's first data digit is its class (2 control), a control
// command's data is 00 plus a two-digit action from "table 7" (01/02
// release 1/2, 03 keysafe, 04 release all, 06-09 relay 1/2 on/off, 10
// switch local, 11 switch ARC, 13-20 inactivity, intruder, hypothermia and
// thermal settings, 21/22 clock +/-1 h, 23 monitor reset, 24 monitor
// probe, 25 test call, 30/31 unit suspend/resume, 32 program exit); a
// heartbeat's data is the 12-digit identity GGGGGGGG RRRR. The 24 digits'
// layout and their 2-digit checksum come from an open-source in-band
// receiver (see alarm/bs8521).
//
// Not public at all: the mac's algorithm and key, the time's syntax, the
// element names' exact spelling and the acknowledgement's exact content.
// Where the facts stop, the gateway reads as follows, tolerant on input
// (each point is the gateway's reading, not the standard's text):
//
//   - Element names: it writes <ATM><ver>, <type>, <data>, <time>, <mac>.
//     It reads element names in any case, takes <version> or <v> for
//     <ver>, ignores elements it does not know and whitespace around
//     values, and accepts an XML declaration before <ATM>.
//   - Version: written as the unit wrote it (1 when the unit gave none).
//   - Type: one character of 0-9 or A (a is taken as A).
//   - Data: an alarm's data is 24 digits, or 26 with the BS 8521 checksum,
//     which is then checked (a bad checksum is refused 400). A heartbeat's
//     data is the 12-digit identity, or a full 24/26-digit message whose
//     identity is used. A command's data is up to 32 DTMF keys.
//   - Time: read as 20060102150405, 2006-01-02T15:04:05 (with Z or an
//     offset, or a space for T) or Unix seconds; a time that is none of
//     these is kept as text, never refused. The acknowledgement carries the
//     gateway's time in the layout the unit used (20060102150405 UTC when
//     it used none). An alarm's event id is made of the unit, its data and
//     its time, so a unit that sends the same <ATM> again (it missed the
//     acknowledgement) makes no second event; without a time every
//     MESSAGE is a new event.
//   - Acknowledgement: a MESSAGE of type A whose data is the data of the
//     message it acknowledges, sent to the unit after the 200 of its
//     MESSAGE, to the address that MESSAGE came from. The 200 itself is
//     sent only once the event is durably queued (the ack-after-durable
//     rule of every protocol here); a unit whose alarm could not be queued
//     gets 503 and no acknowledgement, so it repeats or uses its backup.
//   - Heartbeats feed the device's supervision (heartbeatInterval of the
//     device, else the bridge's defaultHeartbeatInterval): a unit whose
//     heartbeat lapses goes offline and its bridge's ARC gets a
//     supervision event (SIA YS over DC-09), its next heartbeat the
//     restore (YK).
//   - mac: NOT verified. The facts name the field but define neither its
//     algorithm nor where its key comes from, and no provisioning field
//     carries a NOW-IP key, so the gateway cannot tell a good mac from a
//     wrong one, and refusing on a guessed algorithm would refuse real
//     units. Messages are accepted on the SIP layer's authentication
//     (digest, a trusted network, or a deviceid device by its From user);
//     the mac (at most 256 printable characters, else 400) travels to the
//     ARC unchanged in the event's raw body, and the acknowledgement
//     carries none. Handler.VerifyMAC is the seam for a verifier once the
//     algorithm is known (a refusal is answered 403, with no
//     acknowledgement); a message is never reported as verified without
//     one.
//
// # Seams
//
// The gateway (cmd/edgebridge/internal/gateway, nowip.go) takes MESSAGEs
// with a text/plain <ATM> body from the engine, picks the alarmbridge whose
// destinationMatch fits the Request-URI user, runs Handler.Handle, answers
// the transaction with its code and sends the acknowledgement. It also
// routes the ARC's commands and call backs to units, directly or through a
// group-scheme controller (nowipcontroller).
package nowip
