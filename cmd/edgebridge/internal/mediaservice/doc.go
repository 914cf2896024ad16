// Package mediaservice is the media service (IVR) of the gateway: an
// inbound SIP call whose called number fits a /mediaservice document's
// destinationMatch becomes a session driven by the integrator's web
// application through webhooks, as the platform's media service API does;
// the application acts on live sessions through the REST commands under
// /mediaservice/{domain}/.
//
// # What it owns
//
//   - the switchboard's media service stage (Service.Routes), after the
//     alarm services and before trunks;
//   - sessions (session.go): newCall, the IVR loop, transfers, callEvent,
//     sessionCompleted;
//   - the audio of a participant in the IVR (media.go): prompts played,
//     DTMF collected (RFC 4733 events and in-band, an in-band copy of an
//     event within 300 ms dropped), both directions recorded; a connection
//     of two participants is bridged here too (session.bridge), so it can
//     be recorded;
//   - the prompt storage (prompts.go): DATA/mediaservice/prompts/{domain}/,
//     every file an A-law WAV, uploads of WAV PCM16/A-law/µ-law (or raw
//     .alaw/.ulaw) converted while streamed, a quota over all of it
//     (DefaultQuota), signed download URLs valid 15 minutes;
//   - recordings (recording.go): written while the call runs, A-law WAV
//     streamed to the prompt storage with the sizes patched into the header
//     at the end (constant memory), announced by recordingReady;
//   - replyId tokens: the domain and session id, HMAC-SHA256 signed with a
//     key of this process (a session does not outlive it);
//   - the REST commands (control.go, api.CallControl) and the prompt files
//     (PromptAPI, api.PromptStore).
//
// # The webhooks (the media service API's callbacks)
//
// Each is a JSON POST to {callbackBaseUrl}/{name}, signed by
// delivery.Poster (restAuthentication: a JWT bearer token per entry, the
// next entry on 401/403, its requestHeaders), retried on no answer, 5xx and
// 429 until callbackTimeout (ms, default 15000) has passed. HTTPS with the
// system roots plus the CAs in DATA/tls/callback-ca.pem (CABundleFile);
// http:// only to a loopback host.
//
//   - newCall {sessionId, sipCallId, ivrServer, callingPartyPrivacy
//     ("public", "secret" when Privacy asks for id/user), callingParty (PAI
//     user, else From user), displayName, fromUser, xHeaders, pHeaders (a
//     string, or an array when repeated), calledParty, diversionHeaders,
//     referredBy, paiNumber, subject, srcAddr}. The answer's action: "ivr"
//     answers and runs the IVR; "call" calls destAddr (a SIP URI or number,
//     or a list of {destAddr, maxRingTime} tried in order, each for its
//     maxRingTime, else the answer's, else 60 s) and connects the caller to
//     the first that answers, with sipFrom, displayName, callerPrivacy
//     (From anonymous and Privacy: id), sipPAI, sipRPID, sipDiversion with
//     sipDiversionParameters, xHeaders/pHeaders (a value or a list),
//     copyHeaders (X-/P- headers of the inbound INVITE), ringbackTone (a
//     caller not yet answered gets the destination's 180 unless "silent";
//     one already answered, e.g. in the IVR, hears 425 Hz 1 s on 4 s off
//     while the destination rings, for "default" or none), callRecording with
//     recordingFileName, sipTo (the To's user; else the destination's),
//     contactParameters and contactUserParameters (tokens, added in key
//     order to the INVITE's Contact URI and to its user part:
//     <sip:edgebridge;k=v@host;k=v>), greeting {playMode, caller {phrases},
//     callee {phrases}}: once the destination has answered and before the
//     two are connected (and callAnswered sent), each hears its own
//     phrases (prompt files) while the other hears silence: the callee's
//     first for playMode calleeFirst, the caller's first for callerFirst,
//     both at once for simultaneous (the default; the media service API
//     names only calleeFirst). monitorDestAddr and the monitor*
//     fields (and httpcall's codec, receiveIp, receivePort) are not carried out here: an
//     answer with one of them set is treated as a bad answer (the call
//     refused 500, or dropped after callEvent) with a service alarm naming
//     the field, never silently ignored. "drop" refuses with dropCode (busy 486, error 500,
//     numberNotFound 404, numberNotActive 410, temporarilyUnavailable 480,
//     dropNoMsg or none 603). "httpcall" and "connect" need a cloud SIP UA
//     leg or a second waiting participant the gateway does not keep: the
//     call is refused 501 and a sessionError alarm says so. No answer:
//     503 and newCallEventError "newCall request failed"; an empty answer,
//     no action or an unknown one: 500 and the media service API's error text.
//   - getIvrCommand {sessionId, sessionReferenceId, ivrServer, replyId, and
//     after a command with dtmf: dtmfBuffer, dtmfParams {dtmfMatch, reason
//     (maxDigits, terminationKey, firstTimeout, betweenTimeout,
//     interrupted), matchedTerminationKey, encryption}}. The answer: phrases
//     (each a fileName of the prompt storage; a text-to-speech phrase
//     raises ivrCommandError "phraseError" naming why and is skipped),
//     dtmf {flush (drop keys typed ahead), maxDigits, firstTimeout (s,
//     default 10, from the end of the phrases), betweenTimeout (s, default
//     3), terminationKey (ends, not part of the match), encryption {type
//     md5, salt}: dtmfMatch and dtmfBuffer are then hex(md5(salt+digits))},
//     bargeIn ("current" stops the phrase playing at a key, "all" every
//     phrase left; keys are collected in any case), backgroundPrompt
//     {fileName, repeatPause s, stop} played after the phrases and between
//     commands, hangup (after the phrases), getIVRCommandAfter (s of wait,
//     with the background prompt, before the next request when no dtmf is
//     asked). The buffer is emptied once reported. A command with none of
//     phrases, dtmf, hangup and getIVRCommandAfter is an ivrCommandError
//     and hangs up (asking again at once would loop on the application). Gateway extension: an
//     answer with action "call" or "drop" (newCall's fields) transfers or
//     drops the caller, since the media service API gives the IVR no other way out.
//   - getCallIdentifier {sessionId, calledParty (the called number; for
//     placeivrcall the destination's user)}: sent once, when a session that
//     has no sessionReferenceId yet (none in newCall's answer or in
//     placeivrcall) reaches the IVR, before its callAnswered. The answer's
//     sessionReferenceId is copied into every later callback; no answer or
//     a 4xx leaves the session without one (the application need not
//     implement it), an answer whose sessionId names another session is not
//     taken (sessionError alarm).
//   - callAnswered {callingPartyNumber, callerParticipantId,
//     calleeParticipantId, remotePartyNumber, connectionId, replyId,
//     sessionReferenceId, traceId, httpTransactionId} when a connection is
//     up: the caller and the IVR (remotePartyNumber "ivr", the session id
//     as calleeParticipantId), or the caller and a called destination.
//   - callEvent {connectionId, domain, event (callingPartyDrop,
//     calledPartyDrop, calledPartyFailure with sipResponseCode and
//     errorDescr), ivrServer, participantId, remoteParticipantId, user,
//     remoteUser, sessionId, replyId, sessionReferenceId}: the answer's
//     action is applied to the remaining party (drop by default or when the
//     application does not answer: callEventError).
//   - recordingReady {sessionId, connectionId, recordingFileName, fileSize,
//     ivrServer, domain, event recordingSuccessful|recordingFailed, reason}.
//   - sessionCompleted {sessionId, domain, sessionDuration (s), reason,
//     sessionReferenceId, ivrServer, traceId, httpTransactionId}.
//   - service alarms {type, domain, sessionId, error, errorDetails} go to
//     the domain's alarmEventsRestEndpoint through Config.Alarm (the
//     gateway's notify.Notifier).
//
// # The REST commands
//
// Every command names its session by replyId: missing or not one this
// gateway signed is 400, a session ended or of another domain 404, the id
// of a live alarm call 501 (alarm calls are not media service sessions:
// they are recorded or split by nothing here) — never 5xx for a client's
// mistake. hangupcall(jwt) hangs up every leg; hangupparticipant hangs up
// the participantId's leg, hangupremoteparticipant the party it is
// connected to (409 while it is in the IVR); interruptivrcommand ends the running IVR command
// (dtmfParams.reason "interrupted") and asks for the next;
// startrecording/stoprecording {replyId, connectionId, recordingFileName}
// record the current connection (409 when already or not recording, 413
// when the storage is full). placeivrcall (no replyId) calls destAddr
// (sipFrom, displayName, callerPrivacy, sipDiversion, xHeaders, pHeaders,
// maxRingTime checked as newCall's call action) from the IVR of the media
// service mediaserviceId (else the domain's first): when it answers,
// callAnswered and getIvrCommand follow; when it does not, callEvent
// calledPartyFailure. The transfer destination's 180 is reported by
// callNotify {event ringing, participantId, sessionId, user, remoteUser,
// sipCallId, ivrServer, traceId}. splitconnection {replyId, connectionId}
// of a connection of two participants sends callEvent
// callerConnectionSplit and calleeConnectionSplit and applies each answer
// to its participant (the callee may be dropped or put in the IVR; the
// session follows one connection at a time); on an IVR connection it is
// 409. The cloud SIP UA's placeremotecall, answerremotecall,
// sendremotecallringback (and their jwt twins) answer 501 naming why: this
// gateway runs no cloud SIP user agent (newRemoteCall is never sent).
//
// # What it may import
//
// engine (calls and their media), dsp, store, alarm/delivery (the signed
// poster), alarm (CompileMatch), api (the interfaces it implements). Only
// the gateway package imports it.
package mediaservice
