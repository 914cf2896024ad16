// Package multi picks the in-band alarm receiver for an alarmbridge
// (ForBridge, from the provisioning schema's fields protocol, protocolMode,
// fallbackAlarmProtocol and dataRequestInterval) and implements the
// "multiprotocol" one: it offers each protocol's opening in turn (Contact ID
// handshake, BS 8521 data request; the fallbackAlarmProtocol first when it
// is set) on the same call until the alarm unit answers one of them.
//
// Protocols: contactid (this gateway's extension of the schema's protocol
// list), bs8521, tt92, ttnew, multiprotocol. Protocols that do not run on an
// audio call (scaip, api, voicecall, nowip) are an error here: the call is
// not served as an alarm call.
//
// It imports the alarm kit and the protocol packages contactid, bs8521 and
// tt92, nothing else of ours.
package multi
