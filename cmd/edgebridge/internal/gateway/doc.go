// Package gateway is the daemon's call path: the switchboard that offers
// every new call to the services that can take it, and the glue between the
// SIP engine, the alarm service, delivery and the hardware.
//
// # What it owns
//
//   - the switchboard (switchboard.go): the ordered stages a new call is
//     offered to, for SIP calls and for calls from the FXS line alike;
//   - the alarm stage (alarmcall.go): alarmbridges answer calls whose
//     called number fits their destinationMatch, run the alarm receiver of
//     their protocol (alarm/service), and hand over to the voice path;
//     in-call commands and clear-down of live alarm calls (the REST
//     /alarmbridge/{domain}/hangupalarmcall and devicecommand), refused
//     with 409 when the bridge's controlCommandsEnabled is false; every
//     alarm call with a voice connection (SIP, FXS line, voicecall,
//     SCAIP/NOW-IP voice calls) is a
//     media service alarm session, its voice bridge run through the one
//     seam alarmSessionBridge (voice.go) so splitconnection and the
//     recording commands work alike on each; the
//     mapper's maxSessionDuration (seconds) bounds a session, alarm and
//     voice together, ended with the protocol's clear-down (## for TT92
//     and TTnew, in single tones for protocolMode sdmf; 0 for the others).
//     An operator's clear-down (hangupalarmcall with clear, devicecommand
//     clear) ends the session the same way: the receiver or the voice
//     bridge stops, the call's own goroutine sends the clear-down alone on
//     the unit's leg (single tones are frames, not queued keys), then hangs
//     up, and the request returns once it has. A clear-down not done
//     within 10 s (clearDownLimit; the longest takes about 2 s) means the
//     unit stopped taking audio: the call's audio is dropped (the BYE; the
//     FXS line's audio path closed) and the request answers 504 saying so.
//     SIP and FXS line alarm calls are one live-call registry (liveAlarm:
//     its hangup, its key sender, its clear-down), which the console's
//     calls list reads too. On the FXS line (keyLine) keys are played in
//     band in place of the audio written to the line, as on an RTP leg
//     without telephone-event, so they ride the frames the receiver or the
//     voice bridge writes and pass the alarm session's recording tap; the
//     clear-down is played frame for frame with the unit, then the line's
//     audio path is dropped (an FXS port cannot put the handset down:
//     hangupalarmcall without clear just drops it). With
//     controlCommandsEnabled false the commands that send keys are refused
//     all the same; on the FXS line the gateway (the board's codec) is the
//     only path there is between unit and ARC, so it stays in the media
//     path (a SIP unit's voice call leaves it: the voice path below);
//   - the voice path to the ARC after an alarm (voice.go): the call to the
//     mapper's voice destination, bridged until either side hangs up; the
//     bridge's toneSettings pick each leg's DTMF (callerDtmfSendType for
//     the unit, calleeDtmfSendType for the ARC, else dtmfSendType): 2833
//     offers telephone-event on the leg, inaudio does not, so keys sent or
//     relayed to it are played in band. With the bridge's
//     controlCommandsEnabled false (the schema: "the media path will be
//     straight between alarm device and alarm receiver") a SIP unit's
//     voice call (alarm calls, voicecall, SCAIP and NOW-IP voice) leaves
//     the gateway's media path once the voice destination answers
//     (voiceBridge, engine.DirectMedia); the signalling stays, so a BYE
//     from either side ends both. It stays in the path, with one log line,
//     where the legs need the gateway (SRTP, codec or key conversion, NAT),
//     while the alarm session is recorded (startrecording on a direct call
//     is refused 409: nothing to record), and when a far end refuses the
//     re-INVITE: the call is never dropped for it. Once direct, there is
//     no RTP timeout (a far end gone without a BYE is ended by a session
//     timer or maxSessionDuration), and the gateway hears no keys. When the
//     ARC hangs up first with arcDisconnectClearsCall on, and at
//     maxSessionDuration or splitconnection, the gateway takes the unit's
//     media back (Reanchor, a re-INVITE) to play the clear-down an ARC
//     operator expects before the unit's call ends; a unit that refuses
//     that re-INVITE is hung up without it. On the FXS line the gateway is
//     the only media path: false there only refuses the in-call commands.
//     The ARC's call through to a NOW-IP group scheme's unit
//     (nowipcontroller) follows no alarm and stays anchored;
//   - the FXS port (fxs.go): the board's run loop (lamps, watchdog, the
//     simulated line's spool folder) and the dialling plan: dial tone
//     (425 Hz) until the first digit, '#' ends the number at once, else 3 s
//     after a digit (4 s before the first); no digits is a hotline and is
//     routed as the empty number;
//   - the console's `line simulate` (linesim.go): an alarm unit of
//     alarm/unitsim lifts the simulated line's handset, dials after the dial
//     tone and plays its protocol in band, in real time; and `line answer`
//     (lineanswer.go): the pretend unit answers the ARC's call back at the
//     n-th ring burst, as social alarms do (armed from the start on --hw
//     sim, at ring 2; `line answer off` disarms it), speaks a 440 Hz tone,
//     decodes the keys it hears in band, and the console shows each step;
//   - SCAIP over SIP MESSAGE both ways (scaip.go): alarm units' <mrq> in,
//     the ARC's <mrs> let in as the awaited answer of an <mrq> sent out;
//   - BS 8521-2 (NOW-IP) over SIP MESSAGE both ways (nowip.go, before
//     SCAIP by Content-Type text/plain): units' <ATM> alarms and heartbeats
//     in, acknowledged with type A once queued; the ARC's commands relayed
//     to units; the ARC's call back to a unit of a group scheme put through
//     to its controller (the alarm stage's route of a nowipcontroller
//     bridge); a nowip bridge takes only its units' voice calls, bridged
//     to the mapper's voice destination as SCAIP's are (scaipVoiceCall);
//   - SIP over TLS from DATA/tls/sip.crt and sip.key (tls.go);
//   - the REST middleware that hands trunk and trusted-network writes to
//     the engine at once (http.go);
//   - what the console and /metrics read beyond REST (status.go), and the
//     live state and field service of /gateway: status summary, alarm
//     lists, retry now, test alarm (field.go, api.Gateway);
//   - the daemon's one definition of healthy (health.go), used by the
//     hardware watchdog, firmware boot confirmation with systemd's watchdog,
//     and /healthz.
//
// # The switchboard: the order a new call is offered in
//
// Each new call is offered to these stages in turn; the first that takes it
// serves it. Within a stage, entries are tried in provisioning order, each
// by its schema field destinationMatch (a regular expression on the called
// number, "/regex/" or bare).
//
//  1. Alarm services: the domain's alarmbridges (/alarmbridge documents).
//     SCAIP units send their alarms as MESSAGEs, which scaip.go takes
//     outside the switchboard; a bridge of protocol "scaip" takes only the
//     voice call that follows an answer with mre 1 (its mapper asks for
//     speech), after every in-band bridge so that a broad destinationMatch
//     does not shadow them, and bridges it to the mapper's voice
//     destination (scaipVoiceCall). A bridge of protocol "voicecall" takes
//     ordinary SIP calls (voicecall.go): the event naming the calling device
//     is queued before anything else, then the voice destination is called
//     and the caller answered only once it answers (refused before answering
//     otherwise: 404 unknown caller, 480 alarmHandling without a voice
//     call, 503 voice destination unreachable). A bridge of protocol "api"
//     takes no calls: its events are posted over REST (PostAlarmEvent).
//     On the FXS line the unit calls from the line's own number (serve
//     --fxs-number, the number the ARC calls it back on): it is the device
//     whose deviceCLI or deviceId that is, so voicecall (event first, then
//     the line bridged to the voice destination) and deviceProvisioned are
//     served; without --fxs-number the line has no calling number and such
//     a call, like any call to an api bridge, finds no stage and the line
//     is released.
//  2. Media services (/mediaservice documents): the mediaservice package
//     answers the call and runs the integrator's IVR through its webhooks.
//     Then cloud SIP UAs (/cloudsipua documents, the same package's
//     RemoteRoutes): newRemoteCall, and the call waits for the
//     application's answerremotecall; its audio is relayed to the
//     application's RTP endpoint.
//  3. The FXS line as a destination (an ARC calling an FXS unit back;
//     linecall.go): a SIP call to exactly Config.FXSNumber (serve
//     --fxs-number; none set, the stage takes nothing) rings the line with
//     the national cadence (Config.RingCadence, serve --ring-cadence, see
//     hal), and is answered only once the unit goes off hook, then bridged
//     to the line. Refused before answering: 486 while a call to or from
//     the unit owns the line, 480 when it does not answer within 60 s
//     (maxLineRing, on a clock a test replaces: lineRingLimit). The
//     FXS port's own answer loop leaves an off-hook to the call that rang.
//     The call is listed with the calls in progress (console `calls`,
//     /gateway/status) and ended by the console's `calls hangup`; the
//     line's leg is counted with the SIP legs (edgebridge_calls_active),
//     for calls to the unit and from it alike.
//  4. Trunks (/trunk documents): the engine's, for SIP calls; a call that
//     came in on a trunk is never sent back out to one.
//  5. Devices registered here: the engine's, for SIP calls.
//
// Nothing takes the call: a SIP call is refused with 404 before it is
// answered; an FXS call is logged and the line released. An FXS call is
// offered only to the stages that take FXS calls (today the alarm stage).
//
// Why this order: the provisioning schema's service destinations (alarm
// services, media services, cloud SIP UAs) come before trunks, and trunks before SIP
// devices; the engine tries its trunks and registered devices after every
// route the gateway gives it and answers 404 when none fits, so every stage
// the gateway owns sits before them. The FXS line is matched by its own
// number, so placing it before the trunks takes no trunk's call.
//
// # Seams
//
//   - A stage (switchboard.go) has a sip func returning engine.Routes for a
//     domain (read per INVITE, so a REST change applies to the next call)
//     and an fxs func returning the handler of an FXS call to a number. A new
//     service adds one stage at its place in newSwitchboard, and this list.
//   - A call leg reaches a service as an alarm.Channel: the engine's RTP
//     session and the hal FXS call both satisfy it without importing alarm.
//   - The alarm service (alarm/service.Service) routes, runs a receiver and
//     queues events; delivery (alarm/delivery) sends them, with the SCAIP
//     sender wired here (delivery.SCAIPFactory on the engine's MESSAGE).
//   - ARC callbacks (the schema's "calling back" model, an event mapper's
//     alarmHandling "requestCallback"): the ARC calls the unit back. A SIP
//     unit is reached at its registration through stage 5, from a trunk or a
//     trusted network, like any call to a registered device (the engine's
//     B2BUA); TestARCCallsSIPUnitBackAtItsRegistration proves it. An FXS
//     unit through stage 3 (TestARCCallsFXSUnitBack).
//   - Toward the daemon: Config in, and API (what api.Config takes:
//     Metrics, Alarms, SIPLog, Gateway, and the Wrap middleware), FXS
//     (a component), Board (for the console) and Healthy out. The gateway
//     fills nothing of the daemon's.
//
// # What it may import
//
// engine, alarm (the kit, alarm/service, alarm/delivery, the protocol
// packages), hal, store, dsp and its siblings notify and mediaservice; api, api/console and api/metrics only for
// the interfaces it implements for them. Only cmd/edgebridge imports it
// (it is internal to it); the module's layering test checks the rest.
package gateway
