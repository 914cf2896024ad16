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
// It also reads a recording for `edgebridge decode` in auto mode
// (SplitBursts, DecodeDigits): the digits are split into bursts at pauses
// longer than 400 ms, and each burst goes to the protocol its length fits:
// 22-24 keys opening "D#" TT92 (a frame is 24), 20 or more BS 8521 (26),
// fewer Contact ID (16). Each protocol package frames its own bursts into
// the command's JSON lines (Lines).
//
// It imports the alarm kit, dsp and the protocol packages contactid, bs8521
// and tt92, nothing else of ours.
package multi
