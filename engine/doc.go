// Package engine is the gateway's SIP side: a user agent on UDP, TCP and TLS
// built on sipgo, a registrar for provisioned devices, upstream trunks
// (registration, keep-alive, routing, B2BUA), and the dialogs of calls.
//
// # Wiring
//
//	e, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:5060", Domain: "local",
//		RTPPortMin: 10000, RTPPortMax: 10999, TLSAddr: ..., TLS: ...},
//		engine.WithStore(db),          // bindings, SIP log, call records; devices, trunks, trusted networks
//		engine.WithRoutes(routes),     // alarmbridges, media services, cloud SIP UAs (RouteSource)
//		engine.WithMessageHandler(h),  // out-of-dialog MESSAGE (SCAIP)
//		engine.WithLogger(log))
//	err = e.Start(ctx) // returns once listening; Close hangs up, unregisters, flushes
//
// # Routing of an inbound INVITE
//
// A request to an IP address belongs to Config.Domain, one to a name to that
// domain. Its source decides who sent it: a trunk (its sourceNetworks; then
// only its DID numbers and no more than its concurrency), or a device
// (digest against the stored HA1 or password, MD5 and SHA-256; deviceid
// devices by From user, and then for alarm services only; userid devices
// by their authorized policy), unless the source is in a trusted network
// of the domain. Nothing is trusted by default, loopback included: trust
// comes only from trustednetwork documents, and (as Kamailio and OpenSIPS
// set it up) lets INVITE and MESSAGE skip digest, never REGISTER of a
// device with a secret. An unknown user is challenged like a known one and
// refused like a wrong password; digest failures make the source and the
// user wait (1 s doubling to 60 s after 3, a 15 min block after 20, 403
// meanwhile); each challenge has its own nonce, valid 30 s from the address
// it went to, with a nonce count that must grow, and the digest uri must
// name the Request-URI.
//
// Every request passes guard first (guard.go): one missing, repeating or
// spoiling a mandatory header is refused 400 before a handler reads it, a
// handler panic costs that request a 500, and both are counted (Stats,
// /metrics) and logged at most 5 lines a second.
// The call then goes, in order (provisioning schema: service destinations,
// trunks, devices), to the first Route whose Match takes the called number,
// to the user or group whose extensionNumber it is (local PBX, below), to the
// first trunk whose destinationMatch does (B2BUA out), or to the device
// registered as the called user (B2BUA), else 404. A Route's Handler gets
// the *Call unanswered; Answer gives it Session, an RTP session that is the
// alarm Channel (ReadFrame, WriteFrame, Digits, SendDigit, Hangup).
//
// # Registrar
//
// A REGISTER (RFC 3261 §10.3; expiry 60-7200 s, at most 10 contacts per
// address of record) is answered 200 only once its binding is both in
// memory, where calls look it up (a call placed on the 200 reaches the
// device), and in the store: the registrar writes bindings in one
// transaction per burst and each 200 waits for the batch holding its
// change (group commit), so a binding answered 200 survives a crash and
// is read back at Start. A batch the disk refuses stays queued for the
// next one and its REGISTERs are still answered 200: the device is
// reachable, the store's trouble is the store-unwritable alert's.
//
// # Provisioning read
//
// StoreDirectory reads the store's working documents: "device" (provisioning
// schema), "trunk" (provisioning schema, plus the registration fields of a
// PBX trunk API as camelCase extensions: register, registerInterval,
// keepAlive, keepAliveInterval, concurrency, didNumbers, outboundServer,
// outboundServerPort) and "trustednetwork" ({"network": CIDR}, after a
// hosted PBX API's trusted networks). ReloadTrunks applies a
// trunk change at once (otherwise within 10 s).
//
// The leg to a registered device is addressed as a PBX does: Request-URI
// the binding's Contact, To the address of record, From the caller's number
// in the domain, and P-Asserted-Identity (RFC 3325) when the caller proved
// who it is (digest, or a device in a trusted network; not deviceid).
//
// The B2BUA behaves as a PBX between phones: 180 and 183 reach the caller
// only once the callee sent them, a 183 with SDP is answered to the caller
// with ours and its audio bridged at once (early media), hold and resume
// (a re-INVITE changing direction) are relayed to the other leg with the
// same codec and SRTP key, and key presses in SIP INFO
// (application/dtmf-relay, application/dtmf) go on as RFC 4733, while keys
// toward a leg without telephone-event whose phone sent INFO go as INFO.
//
// SRTP per leg (SDES, RFC 4568) follows the srtp setting of the device or
// trunk (off, optional, mandatory): a device without one gets what the
// caller asked for (RTP/SAVP if the caller required SRTP, a=crypto on
// RTP/AVP if it offered it, plain otherwise); a trunk without one is off. A
// caller who requires SRTP is never carried in clear: a callee whose setting
// is off gets no INVITE and the caller a 488 with a Reason. A leg keeps its
// key across re-INVITEs and session refreshes while the peer keeps its own.
//
// A trunk registers with one Call-ID and a growing CSeq per registrar and
// answers a refresh with the last challenge and the next nonce count; a
// digest uri is always the Request-URI, parameters included.
//
// Media is anchored: each leg of a bridged call has its own RTP session
// and media.Bridge copies audio and DTMF, transcoding A-law and µ-law as
// localCodec/trunksideCodec require.
//
// The one exception is DirectMedia (bypass.go, third party call control
// after RFC 3725): for two answered legs the caller bridges, it re-INVITEs
// the second leg with the first far end's SDP (reduced to the codec and
// telephone-event that leg uses) and then the first with the second's
// answer, under the gateway's own o= line, version one up. Both far ends
// then send RTP straight to each other; the gateway closes its two RTP
// sessions (Session is nil, there is no RTP timeout) and keeps only the
// dialogs: a BYE on either leg ends it as before, a session refresh is
// answered with the SDP last sent, and a far end's new offer (hold, a new
// address) is relayed to the other leg and its answer returned. This flow,
// rather than RFC 3725's offer-less re-INVITE with the answer in the ACK,
// uses only what every UA takes (a re-INVITE that moves the far end, as a
// hold or a transfer does; SIPp and baresip both do). DirectMedia refuses
// (ErrStayInPath, the call unchanged) legs with SRTP (their keys are the
// gateway's), different codecs or telephone-event on one leg only (the
// gateway converts between them), a leg on hold, a far end whose RTP
// comes from another address than its SDP, and a caller whose SDP address
// is not where its INVITE came from (NAT, or a proxy). A refused
// re-INVITE (488, 491, no answer within Timer B) changes nothing either:
// a leg already moved is re-INVITEd back to its own session, still open
// until the end. Reanchor gives a direct leg a new session (the gateway
// can play to it again).
//
// # Local PBX: forking, users, groups
//
// A device with several registrations is rung on all of them at once
// (forking, RFC 3261 §16.7): the first 200 takes the call, every other
// branch gets a CANCEL with Reason: SIP;cause=200;text="Call completed
// elsewhere" (RFC 3326) so phones do not show a missed call, and an answer
// that crosses the CANCEL gets a BYE. Without an answer the caller gets the
// best refusal (a 6xx, else 486, else the lowest code, else 480). Early
// media is relayed only when one leg rings (the caller cannot hear
// several).
//
// Users and groups are gateway extensions with the field names of a hosted
// PBX API ("user" and "group" documents, PBXDirectory); User.Validate and
// Group.Validate are the one check, run by REST before storing and by
// StoreDirectory.Extension before ringing (a document that fails is
// refused, 500 with the rule as Reason). A user gives the
// device named by its user field an extensionNumber. A group
// (groupName, displayName, extensionNumber, members [{userId, ringOrder}])
// rings by ringStrategy: "all" rings every free member's registrations at
// once for ringSecs (default 20); "huntLongestIdle" rings one member at a
// time for ringSecs each, the member whose last call ended longest ago
// first (never called counts as longest; ties by ringOrder, lowest first,
// then list order). Idle time and "in a call" are tracked per device (the
// device a user names) from the calls the B2BUA delivers to it; idle times
// are kept in the store ("pbxidle", written at most every 10 s and at
// Close, read at Start), so the hunt order survives a restart.
// ringAttempts (default 1) is how many rounds through the members ring;
// members in a call or unregistered are skipped, and with none left the
// call is refused (486, or 480). callerNameFormat ({displayName},
// {srcPhoneNumber}, {dgrpName}) is the caller name the members see.
// Extensions are tried before trunks, in inbound routing and in Dial (an
// alarm's voice destination may be a group's extension).
//
// ringExclusive 1 queues a group's calls (queue.go): the call at the head
// of the group's queue rings the free members (registered, in no call, not
// ringing for another queued call) by the group's plan; while none is free
// the caller waits and hears the gateway's ringback tone (425 Hz, 1 s on,
// 4 s off) in early media (183 with our SDP, repeated every minute; 182
// Queued, also every minute, to a caller without an SDP offer). Callers
// are served in arrival order, one who hangs up leaves the queue, at most
// 10 wait per group (the next gets 486) and each at most 5 minutes (then
// 480), with a Reason; a waiting call leaves the load shedder's count of
// calls in setup. When the members rung do not answer, the call ends as an
// unqueued one does. Dial waits in the queue the same way, silently,
// within its context. A queue holding more calls than WithQueueAlert's
// calls (default 5; serve --alert-call-queue-calls) or whose first caller
// has waited longer than its wait (default 2 minutes;
// --alert-call-queue-wait) files the call-queue-backlog alert for the
// group (below). These are daemon flags, not group fields: the seed's
// groups have no such field, and an installer sets one threshold for the
// site as for the gateway's other alerts.
//
// A user with mobileNumber (and mobileFollow unset or 1) has its missed
// calls forwarded: its device rings for the user's ringSecs (extension,
// default 20), then, or at once when no registration can ring, the number
// is called through the trunk whose destinationMatch takes it (that
// trunk's rules, srtp setting and concurrency apply), with Diversion:
// <sip:EXTENSION@domain>;reason=no-answer (RFC 5806) unless the trunk sets
// its own diversionHeader. The trunk is chosen when the call arrives.
// Only calls to the user's own extension (and Dial to it) forward: a
// group call no member answers is not forwarded to any member's mobile
// (the group, not one member, was called; with several members there is
// no one mobile to choose, and a group's caller would otherwise reach a
// private phone the group's plan never named). It ends as a group call
// does: 480 when no member answered within the group's rounds, 486 or 480
// when none could ring.
//
// # Call limits
//
// The "limit" documents of a domain (category and quantity, LimitDirectory)
// bound its calls: voice_call_session the calls in progress in the domain,
// device_call_session the calls a device is in (placed by it, counted from
// the INVITE, or delivered to it, counted from the answer),
// call_rate_per_source the new INVITEs per second from one address (a token
// bucket as deep as the rate). An INVITE beyond a limit is answered 503 with
// Retry-After (1 s for the rate, 5 s otherwise) and a Reason naming the
// category, after authentication and before anything rings; a call to a
// device at its limit gets 503 instead of ringing it.
//
// # Alerts
//
// Conditions an installer must act on are filed as alerts (Alert, after a
// CPaaS API's Alerts: time, account_sid, alert_type, message, detail):
// no-carrier when a trunk's registration fails or its keep-alive goes
// unanswered, call-limit and device-limit when a call is refused at a limit,
// auth-failures (extension) after 5 failed digests from one address within a
// minute, call-queue-backlog (extension) for a ringExclusive group's queue
// over WithQueueAlert's thresholds (queue.go); the gateway files arc-path-down, unknown-alarm-account,
// queue-backlog, store-nearly-full and store-unwritable through
// RaiseAlert/ClearAlert. Each cause (its trunk, device or address) is filed once and again
// only after it cleared; the clearing is filed too (cleared true). Alerts go
// to the WithAlerts observer (the gateway posts them to the domain's
// alarmEventsRestEndpoint) and to the store ("alert", the newest 500 per
// domain), which the REST API lists; while the store refuses writes they
// wait in memory (500 at most) and are stored once it takes them.
//
// # Call captures
//
// A call's pcap (WriteCallPcap, WriteCallCapture; the REST API serves it)
// holds its SIP from the store's SIP log, each message over the transport it
// crossed (TCP and TLS as TCP segments, TLS decrypted), and, when the
// domain's notificationsettings set callCaptureRtpSeconds (0-60, off by
// default for privacy), the first that many seconds of each leg's RTP
// socket (capture.go); a bridged call's pcap holds both legs' SIP and RTP.
// Each leg's RTP capture is a pcap file in the capture folder
// (WithCaptureDir; the daemon's DATA/captures, with a .json beside it naming
// the call), written as the packets come through one 8 KiB buffer per
// capture (no allocation per packet), read back in constant memory, and
// found again after a restart. The files take at most CaptureBudget
// (16 MiB) together: the oldest finished captures (call ended, or its
// seconds over) are dropped first, and a call gets none while captures
// still filling take it all. Without a capture folder there is no RTP
// capture. An outbound leg's Call-ID is chosen before its media starts so that
// its capture is filed under it.
//
// # Overload
//
// Past its capacity the engine sheds load instead of suffering it: once
// the datagrams have waited 25 ms or more in the SIP UDP socket's queue
// for 125 ms of reading (the kernel stamps each datagram's arrival; a
// stall read away at once does not count) it admits new INVITEs at a
// rate, the calls a second it settled over the last second (or admitted
// over the last 200 ms, if more), cut 10 % every 500 ms while the queue
// stands or half of MaxSetups are in setup, down to half that, and raised
// 2 % every 100 ms while it is clear, fewer than a quarter of MaxSetups
// are in setup and the calls
// settled over the last second keep up with it (half of MaxSetups in
// setup also starts it, at the settled rate); it refuses a new INVITE that itself waited 50 ms while the queue
// stands, and answers the rest 503 with Retry-After (2-5 s) at the socket,
// before any work is done for them; it admits all again after two seconds
// that refused nothing. A retransmitted INVITE is passed on if its first was,
// and gets the same 503 if its first was refused (8 s memory).
// Whatever the rate, a new INVITE is refused when the queue's wait has
// stood at 50 ms for 250 ms, when more than OverloadConfig.MaxSetups (200)
// calls are in setup (admitted, and neither answered or refused by us nor
// heard from by the callee: a leg that rings is not in setup), when a
// probe goroutine wakes 50 ms late or more for 250 ms (the CPU queue), when
// the CPU is busy and a quarter of MaxSetups are in setup, when the live
// heap passes 80 % of the runtime's memory limit, when the limit holds the
// collector's heap goal within half of GOGC's headroom above the live heap
// while it collects (shedder.heapBound) and a quarter of MaxSetups are in
// setup (the calls in flight hold the heap; what finished calls leave for
// seconds holds the goal too, and refusing on the goal alone trapped a
// daemon with a lower GOMEMLIMIT in refusing almost every call), or when
// fewer than two RTP port pairs are free; calls already taken complete. Stats
// counts the refusals (Shed). The SIP UDP socket asks for a 2 MB receive
// buffer so that a burst waits instead of being dropped (the kernel caps it
// at net.core.rmem_max). Per call the engine hands call records and SIP
// messages to the store in batches (appended to segment files, one write()
// per batch, no sync per batch), not one per message, and logs call ends
// at debug level.
//
// The engine imports neither alarm nor api nor hal: it imports dsp and store
// (and its own engine/media, engine/sdp, engine/pcap, engine/udpstamp), and cmd wires it to
// the rest. Its seams: the RouteSource and CallHandler it declares (the
// gateway's switchboard fills them), the MESSAGE handler, and the RTP
// Session a handler gets, which is the alarm Channel.
package engine
