// Package alarm is the alarm protocol kit: what every protocol package and
// the alarm service share, and nothing that needs a database.
//
// # What it owns
//
//   - Channel: a call leg as the alarm code sees it: 20 ms frames of 8 kHz
//     PCM in and out, DTMF events in both directions (RFC 4733 or in band),
//     hangup. An RTP session (engine/media) and the FXS line (hal) both
//     satisfy it without importing this package.
//   - Receiver, Call and Outcome: a protocol's side of one alarm call;
//     FrameLoop (the lock-step read/write loop every receiver runs) and
//     KeySender (DTMF keys toward the unit in band); DigitDedup (a key heard
//     both in band and as RFC 4733 counts once); FixedLengthBursts (decode's
//     lines of a protocol whose message has a fixed number of keys).
//   - Event: one alarm event, as the protocols produce it and delivery
//     sends it; its first block mirrors the provisioning schema's
//     overrideInAlarmEvent fields. EventID makes the id a repeat keeps.
//   - Queue: where a receiver puts an event; Enqueue returns only once the
//     event is durably stored, and the receiver sends the kissoff only
//     after that, so an event is never acknowledged and then lost.
//     PendingWrite runs that write beside the receiver's FrameLoop (waited
//     for inline only up to InlineWait): an fsync on a busy disk can take
//     seconds, and the call's media must not stop meanwhile. A receiver
//     whose write ends too late for its acknowledgement to reach the unit
//     before the unit repeats sends none over the repeat; it acknowledges
//     the repeat at once, from the stored event, without a second write.
//     While the write runs the loop is kept from running ahead of real
//     time, so that on a Channel faster than real time (a test's pipe) the
//     write lasts the call time it takes, as on a real line.
//   - Permanent: the mark a sender puts on an error the far end will never
//     accept (delivery then moves the event to the dead letters).
//   - The provisioning documents the alarm path reads, as types
//     (provisioning.go): AlarmBridge, EventMapper with TargetEndpoint and
//     BackupEndpoint, Device, with the schema's field names and enums
//     (alarmHandling: callEmergencyCenter, usePredefinedDestination,
//     requestCallback, drop); Provisioning, the interface that reads them;
//     DeviceKey (customerSiteId:controllerId:deviceId, leaving out what the
//     event lacks: schema, POST /device, deviceId); CompileMatch reads a
//     destinationMatch ("/regex/" or bare, unanchored).
//
// "The provisioning schema" in this module's comments is the cloud
// platform's provisioning API that the REST API mirrors, kept as
// testdata/api/seed000_provisioning.txt.
//
// # Protocols served
//
// Of the alarmbridge protocol enum (plus the gateway's contactid), these
// are received: contactid, bs8521, tt92 and ttnew (protocolMode dtmf, or
// sdmf: single tones), multiprotocol (alarm/multi offers each opening in
// turn, fallbackAlarmProtocol first) on SIP and FXS calls, deviceProvisioned
// (the calling device, found by its calling number or SIP From user among
// the provisioned devices, names one of those in its
// serviceData.alarmBridge.alarmProtocol; on the FXS line the calling number
// is the line's own, when the gateway is given one), scaip as SIP MESSAGE, voicecall
// (an ordinary SIP call is the alarm: an event naming the calling number,
// then the call is bridged to the voice destination; the gateway's
// voicecall.go) and api (a PostedEvent over REST, POST
// /alarmbridge/{domain}/{alarmBridgeId}/event, validated by
// PostedEvent.Validate), and nowip and nowipcontroller (BS 8521-2,
// "NOW-IP": an <ATM> body in SIP MESSAGE, both ways, alarm/nowip; a
// nowipcontroller bridge also takes the ARC's call back to a unit of a
// group scheme and puts it through to the unit's controller).
// AlarmBridge.Validate would refuse a value with its reason
// (RefusedProtocols, empty today), so that no call is answered and then
// dropped.
//
// # What it may import
//
// dsp and the standard library only. The protocol packages (contactid,
// bs8521, tt92, multi, scaip, nowip, dc09) import only this kit and dsp; the
// service side (alarm/service: routing, mapping, supervision; and
// alarm/delivery: the queue and the ARC senders) adds store. Nothing under
// alarm imports engine, api or hal: the layering test checks it.
//
// # Seams
//
// A protocol is a Receiver over a Channel that puts Events in a Queue;
// alarm/service picks the receiver for an alarmbridge (through alarm/multi),
// maps the events and hands them to delivery; the gateway
// (cmd/edgebridge/internal/gateway) gives it the call's Channel.
package alarm
