// Package scaip holds the SCAIP (SS 91100) XML messages carried in SIP
// MESSAGE bodies (Content-Type application/scaip+xml): the request <mrq> an
// alarm unit or gateway sends, and the response <mrs> the receiver returns;
// their validation, and their mapping to and from alarm.Event. Handler and
// Inbound answer units (the gateway as receiver); Sender and Replies send
// to an ARC (the gateway as unit), over a MessageClient the engine provides.
//
// It imports only the alarm kit. It does not import delivery: delivery
// adapts Sender to its endpoints (delivery.SCAIPFactory), and a refusal is
// marked alarm.Permanent.
//
// # The facts it encodes
//
// Source: SS 91100 (SCAIP) and its XSD, namespace
// http://www.hi.se/2012/XScaipXML:
//
//   - SIP MESSAGE, UDP or TCP, SIP digest authentication.
//   - <mrq>: ref (1-16 alphanumerics, required), ver (01.00), cha (0 normal,
//     1 callback), mty (ME alarm, RE reset, IN update, PI heartbeat), cid
//     (1-32 digits, required: the caller or controller id), dty (4-digit
//     device type, required; e.g. 0003 personal trigger, 0005 fall
//     detector), did/dco (device id, component), dte, crd (caller, e.g. a
//     sip: URI), stc (4-digit status; absent = alarm), stt, pri (0-9),
//     lco/lva/lte (location), ico/ite.
//   - The ARC answers with a MESSAGE of its own carrying <mrs>: ref, snu
//     (0 OK, 1 too long, 2 invalid format, 3 wrong content, 4 hold, 5 not
//     treated, 6 busy, 7 mandatory tag missing, 10 reference missing, 99
//     undefined), mre (0 no voice, 1 duplex, 2/3 simplex), cre (callback
//     minutes), hbi (heartbeat interval, 1-1440 minutes).
//   - On hold (snu 4) the sender resends after 5-20 s [5 s]. The voice
//     call starts only after snu 0 with mre at least 1, within 60 s.
//   - In-call DTMF toward the unit (100-500 ms, RFC 4733): 0 clear down,
//     1 volume down, 3 volume up, 4 duplex, 7/8 simplex, 9 output control.
//
// The gateway's choices, not the standard's: a unit's alarm is answered
// snu 0 only once it is durably queued, else snu 6 (busy), so the unit
// resends or turns to its backup receiver; the alarmbridge's
// defaultHeartbeatInterval (ms, provisioning schema) is sent as hbi rounded
// down to whole minutes; when the event mapper's alarmHandling is
// requestCallback, an accepted alarm is answered with cre, the mapper's
// waitForCallback read as minutes (the schema gives no unit; its sample is
// 5) rounded up (Handler.CallbackMinutes): the unit stays reachable for the
// ARC's call back, which reaches it at its registration.
package scaip
