// Package bs8521 implements BS 8521 (UK social alarms over DTMF): the
// message format and checksum, the receiver (the ARC side, here the
// gateway) and the alarm unit, as state machines over an alarm.Channel.
//
// It imports only the alarm kit and dsp.
//
// # The facts it encodes
//
// From the text of BS 8521:2009 (confirmed):
//
//   - the unit sends an enquiry; the ARC answers with a data request (the
//     unit needs at least 500 ms of it), the unit waits 80 ± 5 ms and sends
//     its message; if nothing arrives within 600 ± 30 ms the ARC repeats the
//     request, up to 4 times, giving up 25 s after the first;
//   - the unit repeats its message when no acknowledge arrives within
//     600 ± 30 ms; keep-alive at least once a minute; clear-down after 130 s
//     without traffic;
//   - the provisioning schema's alarmbridge field dataRequestInterval
//     (default 1600 ms) spaces the data requests (Config.DataRequestInterval).
//
// From one open-source receiver, not the standard (unconfirmed; each is a
// marked constant or table in message.go, easy to correct):
//
//   - the data request is the DTMF key B held 600 ms, the acknowledge B for
//     80 ms;
//   - the message is C D TT GGGGGGGG RRRR EEE LL P SS: system type, speech
//     mode, conformance (2), controller (8), unit (4), event (3), location
//     (2), priority (1), status (2), 24 keys, then a 2-digit checksum: the
//     sum of each key's index in "D1234567890*#ABC", mod 100;
//   - events seen: 010 fixed trigger, 019 personal trigger, 021 fall, 058
//     periodic test.
//
// The acknowledge follows the event's durable write, which runs beside the
// frame loop (alarm.PendingWrite); one that could not start within
// Config.AckLatest (400 ms) of the last key, to reach the unit before it
// may repeat (570 ms), is not sent over the repeat: the repeat is
// acknowledged at once from the stored event. The simulated Unit is as
// strict as a real one about that window.
//
// BS 8521-2 over IP ("NOW-IP": SIP MESSAGE with a text/plain <ATM> body of
// version, type, the 24 keys, time and MAC) is alarm/nowip, which decodes
// its data with Parse and EventFor here.
package bs8521
