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
//     be recorded and monitored; greetings play before it (session.greet);
//   - the prompt storage (prompts.go): DATA/mediaservice/prompts/{domain}/,
//     every file an A-law WAV, uploads of WAV PCM16/A-law/µ-law (or raw
//     .alaw/.ulaw) converted while streamed, a quota over all of it
//     (DefaultQuota), signed download URLs valid 15 minutes;
//   - recordings (recording.go): written while the call runs, A-law WAV
//     streamed to the prompt storage with the sizes patched into the header
//     at the end (constant memory), announced by recordingReady; one
//     recorder for media service and alarm sessions;
//   - alarm sessions (alarmsession.go): the gateway's live alarm calls as
//     sessions of the recording and split commands;
//   - replyId tokens: the domain and session id, HMAC-SHA256 signed with a
//     key of this process (a session does not outlive it);
//   - the REST commands (control.go, api.CallControl) and the prompt files
//     (PromptAPI, api.PromptStore);
//   - the cloud SIP UA (cloudua.go, cloudua_crypto.go): the switchboard's
//     stage after the media services (RemoteRoutes), newRemoteCall and the
//     remote call commands, the RTP relay to the integrator's endpoint.
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
//     names only calleeFirst), monitorDestAddr: a monitoring call placed
//     when the two are connected, which hears both mixed (what it sends is
//     dropped) and is hung up with the connection; From and
//     P-Asserted-Identity monitorSipFrom, else the caller's user; the X-
//     and P- headers of the inbound INVITE, monitorXHeaders and
//     monitorPHeaders replacing (null: removing) those of their names and
//     adding the rest; its first 180 sends callNotify {event ringing,
//     monitoringParticipant true, participantId (the monitor's),
//     remoteParticipantId (the caller's), user, remoteUser, sipCallId (its
//     own INVITE's), sessionId, ivrServer, traceId}, and its callAnswered
//     has monitoringParticipant true; it gets no callEvent (the API gives
//     monitoring legs only those two): failing or hanging up, it leaves the
//     connection as it is. httpcall's codec, receiveIp, receivePort are not carried out here: an
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
//     and hangs up (asking again at once would loop on the application).
//     Gateway extension (marked so on callbackBaseUrl in /openapi.json):
//     an answer with action "call" or "drop" (newCall's fields) transfers
//     or drops the caller at once. The media service API's own way is
//     splitconnection of the IVR connection, answered by callEvent
//     callerConnectionSplit's action; both work, the extension saves the
//     application a REST call.
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
// gateway signed is 400, a session ended or of another domain 404 — never
// 5xx for a client's mistake. hangupcall(jwt) hangs up every leg; hangupparticipant hangs up
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
// session follows one connection at a time). Of the connection of a caller
// and the IVR (the connectionId of its callAnswered) it ends the running
// IVR command and sends callEvent callerConnectionSplit for the caller,
// whose answer is applied to it ("call" transfers it, "ivr" starts a new
// IVR connection, "drop" hangs it up): the media service API's way out of
// the IVR. 409 while a transfer is being set up (no connection is up). The
// cloud SIP UA's commands are below.
//
// # The cloud SIP UA (cloudua.go)
//
// A /cloudsipua document {destinationMatch, callbackBaseUrl,
// callbackTimeout, restAuthentication} is checked by CloudUA.Validate,
// which the API runs on every write (Service.CheckDocument) and the loader
// before it routes. Its calls have their media at the integrator's own RTP
// endpoint: the gateway terminates the SIP leg (and its SRTP) and relays
// the audio, transcoded when the codecs differ and with key presses as
// RFC 4733 events when the endpoint takes telephone-event, to
// receiveIp:receivePort (RTCP to the port above) from an RTP port of its
// own, which the callbacks give as remoteRtpIp/remoteRtpPort.
//
//   - The switchboard stage after the media services (RemoteRoutes): a SIP
//     call whose called number fits destinationMatch gets newRemoteCall
//     {httpTransactionId, sessionId, replyId, traceId, domain, ivrServer,
//     callId (the SIP Call-ID), codec (the caller's first of PCMA, PCMU),
//     destinationUri (the Request-URI), sourceUser (the From user),
//     remoteRtpIp, remoteRtpPort, telephoneEventPayloadType (the caller's),
//     crypto}. An offer without PCMA or PCMU is refused 488 first. The
//     answer may carry sessionReferenceId (copied into the later
//     callbacks); no answer is 503 and newCallEventError "newCall request
//     failed". The call waits, not answered, for answerremotecall,
//     sendremotecallringback (180 Ringing; 409 once answered) or hangupcall
//     (486 Busy Here); after DefaultRemoteAnswerTimeout (60 s) it is refused
//     480 with the sessionError alarm "sessionExpired". A caller who gives
//     up first ends it (sessionCompleted "callingPartyDrop").
//   - answerremotecall {replyId, receiveIp (an IP address, no name),
//     receivePort (1-65534), codec (PCMA or PCMU; default newRemoteCall's),
//     telephoneEventPayloadType (96-127; absent: keys are played in band),
//     crypto, sessionReferenceId}: the relay starts, then 200 OK to the
//     caller.
//   - placeremotecall {destinationUri, sourceUser (the From user), codec
//     (the only one offered: PCMA or PCMU; GSM is refused 400), receiveIp,
//     receivePort, telephoneEventPayloadType, crypto, sessionReferenceId,
//     callbackBaseUrl (else the domain's first cloud SIP UA's; that UA's
//     restAuthentication and callbackTimeout sign and bound the callbacks)}
//     answers at once and calls (60 s of ringing at most). The callee's
//     first 180 or 183 sends callNotify {event ringing, participantId,
//     sessionId, user, remoteUser, sipCallId (the INVITE's Call-ID),
//     ivrServer, traceId, and replyId — a
//     gateway extension, so a ringing call can be hung up}. Answered:
//     callAnswered {callingPartyNumber, callerParticipantId,
//     calleeParticipantId, remotePartyNumber, connectionId, codec,
//     remoteRtpIp, remoteRtpPort, replyId, traceId, httpTransactionId,
//     sessionReferenceId, and crypto — a gateway extension: the key the
//     gateway sends with}. Not answered: callEvent calledPartyFailure
//     {sipResponseCode, errorDescr}.
//   - hangupcall with the replyId of either kind: busy before the answer
//     (CANCEL for a placed call still ringing), BYE after. The SIP party
//     hanging up sends callEvent (callingPartyDrop for an inbound call,
//     calledPartyDrop for a placed one). Every call ends with
//     sessionCompleted (reason hangupcall, sessionExpired,
//     callingPartyDrop, calledPartyDrop, calledPartyFailure).
//   - crypto (SDES, RFC 4568) is [{suite, id, config}], config the a=crypto
//     key-params "inline:KEY[|LIFETIME]", read by the engine's a=crypto
//     parser; suites AES_CM_128_HMAC_SHA1_80 (what the gateway offers),
//     AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM; an MKI or session
//     parameters are refused. The relay's SRTP uses the same pion/srtp
//     code as the SIP legs. newRemoteCall offers crypto (id 1,
//     AES_CM_128_HMAC_SHA1_80, a fresh key of ours) when the caller's offer
//     is SRTP; answerremotecall must then answer it with one entry of that
//     id and suite (the key the application sends with), and may carry none
//     otherwise. placeremotecall's crypto makes the SIP leg SRTP (RTP/SAVP
//     required) and the relay leg too: the first entry is the
//     application's key, callAnswered's crypto the gateway's.
//   - replyIds are the media service's tokens: forged 400; ended, unknown
//     or of another domain 404; a cloud SIP UA call's replyId on a media
//     service command 409, and a media service session's on
//     answerremotecall 409.
//
// # Alarm sessions
//
// An alarm call is a session of these commands too (alarmsession.go):
// a SIP alarm call of an alarmbridge (the gateway's alarm stage), an alarm
// call on the FXS line (its Call-ID is the line call's id, fxs-...), the
// call of a voicecall alarmbridge (only its voice connection: it has no
// alarm exchange), and a SCAIP or NOW-IP unit's voice call, which takes
// the name its alarms' events carry ("scaip:" or "nowip:" + the unit's
// user, the From user of its MESSAGEs and of its INVITE) while it lasts
// (before it and after it, that replyId names no live call: 404). Its
// newAlarmbridgeEvent
// callbacks carry sessionId = the call's Call-ID and replyId = a token
// signed as above for (domain, "alarm/" + Call-ID) (AlarmReplyID), which
// hangupalarmcall and devicecommand also take as callId. With it:
// startrecording/stoprecording {replyId, connectionId (optional; an alarm
// session gets no callAnswered, so its one connection is named by its
// sessionId), recordingFileName (default alarm-{uuid}.wav)} record the
// unit's leg both ways (the alarm exchange and the voice bridge that
// follows it), streamed to the prompt storage as for an IVR session, and
// recordingReady (and a recording still running at the end of the call is
// finished then) goes to the base URL the events go to: the alarmbridge's
// HTTP callback, else its mapper's http target, signed the same way
// (409 when the bridge has none). splitconnection {replyId, connectionId}
// of the voice connection (the unit bridged to the voice destination; 409
// before it is up or once split) sends callEvent callerConnectionSplit
// (participantId = the Call-ID) and calleeConnectionSplit (participantId =
// the voice leg's Call-ID) there and drops both parties, the unit with its
// protocol's clear-down: dropping is the only action an alarm
// session's participants can take here, so an answer asking for another
// raises callEventError (a voicecall's caller is a telephone: it is hung
// up, without keys). The other commands answer 409 naming
// /alarmbridge/{domain}/hangupalarmcall; an alarm call that ended or of
// another domain is 404. hangupalarmcall and devicecommand answer 409 with
// the reason where they cannot serve the call: any in-call key to a
// voicecall's telephone (SIP or on the FXS line) or a SCAIP/NOW-IP
// unit's voice call (whose commands travel in messages) (devicecommand,
// hangupalarmcall with clear). An alarm call on the FXS line takes both,
// as a SIP one does: keys and clear-down are played in band on the line
// and recorded with it.
//
// # What it may import
//
// engine (calls and their media), dsp, store, alarm/delivery (the signed
// poster), alarm (CompileMatch, Channel), api (the interfaces it implements). Only
// the gateway package imports it.
package mediaservice
