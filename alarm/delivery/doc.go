// Package delivery gets alarm events to the alarm receiving centre: a
// durable queue per destination in the store, a worker per destination that
// sends each event over the primary endpoint and fails over to the backup,
// retries with bounded exponential backoff until the event is acknowledged,
// keeps the order of each device's events, supervises both paths when
// enableDestinationMonitoring is on, and measures enqueue-to-ACK latency.
//
// Delivery is at least once, with the event id as idempotency key on the
// wire (HTTP Idempotency-Key header, optional DC-09 extension), so that a
// resend after a lost acknowledgement or a crash is recognised as a repeat.
//
// On the wire:
//
//   - HTTP callback: POST {base}/newAlarmbridgeEvent, JSON CallbackBody (the
//     alarm.Event fields, sessionId, replyId, httpTransactionId), headers
//     Idempotency-Key: <eventId>, the route's and the restAuthentication
//     entry's requestHeaders, Authorization: Bearer <JWT HS256/RS256 with
//     header kid (a digest of the entry's key: the receiver picks its key by
//     it) and claims iss, sub, scope, iat, exp, jti=eventId>. CheckRestAuth
//     refuses, when restAuthentication is written, a key that cannot sign.
//     2xx acknowledges; 401/403
//     moves to the next restAuthentication entry; 408, 429, 5xx and network
//     errors are retried; other 4xx put the event in the dead letters.
//   - SIA DC-09 (targetEndpoint.protocol "dc09", destAddr as in
//     ParseDC09Addr): Contact ID events as ADM-CID "#ACCT|QEEE GG ZZZ" (or
//     SIA-DCS when the endpoint asks), every other event (BS 8521, TT92,
//     TTnew, SCAIP, supervision) as SIA-DCS "#ACCT|Nri0/<code><zone>" under
//     the device's account with the code of its event type (siaCodes);
//     optionally AES encrypted, timestamped. An event's sequence number
//     comes from its place in the queue, so every retransmission, also
//     after a restart, carries the number of the first (receivers drop the
//     repeat); events take the odd numbers, NULL link tests the even ones.
//     Replies are matched by type, sequence and account and the harmless
//     deviations of real receivers accepted (dc09.ParseReply). NAK is
//     answered by a resend with the receiver's clock, DUH puts the event in
//     the dead letters.
//   - SCAIP (targetEndpoint.protocol "scaip"): an <mrq> MESSAGE to destAddr
//     through the engine (SCAIPFactory; the gateway wires the SIP client),
//     acknowledged by the ARC's <mrs> snu 0; snu 4 (hold) is waited out and
//     resent, the refusals (snu 1, 2, 3, 7, 10) are permanent.
//
// # Where the ARC senders sit
//
// delivery imports the wire protocols, never the other way: the DC-09
// sender (dc09sender.go over alarm/dc09), the SCAIP sender (scaipsender.go
// over alarm/scaip) and the HTTP callback (http.go) are all here, as
// SenderFactory values per protocol. The protocol packages know nothing of
// the queue or the store; a sender marks an error the far end will never
// accept with alarm.Permanent. A new ARC protocol is a protocol package
// plus one factory here (WithSender for one that needs a client the daemon
// owns, like SCAIP's SIP).
//
// # What it may import
//
// The alarm kit, alarm/dc09, alarm/scaip and store (the queue); not
// engine, api or hal. The routes come from the provisioning schema's
// /alarmeventmapper (targetEndpoint, backupEndpoint,
// enableDestinationMonitoring) and the alarmbridge's callbacks
// (notificationsettings alarmbridgeCallbackEndpoint, callbackBaseUrl,
// restAuthentication, callbackTimeout), read by StoreResolver.
package delivery
