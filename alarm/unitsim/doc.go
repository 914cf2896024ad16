// Package unitsim is the alarm units the gateway's tools play: a Contact ID
// panel, a BS 8521 unit and TT92/TTnew units (DTMF or single tones), each
// built from a command line's --event text and sending its protocol's
// standard alarm message by default.
//
// What it owns: parsing an event per protocol (EventHelp, Defaults), and
// the account a unit gives of its call (handshake, attempts, the
// acknowledgement and its timing), printed through a SayFunc.
//
// What it may import: the alarm kit and the protocol packages, whose unit
// simulators it drives; no engine, hal or store. The seams: a Unit plays
// over any alarm.Channel, so `edgebridge simulate` runs it over SIP/RTP and
// the console's `line simulate` on the simulated FXS line.
package unitsim
