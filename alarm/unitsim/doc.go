// Package unitsim is the alarm units the gateway's tools play: a Contact ID
// panel, a BS 8521 unit and TT92/TTnew units (DTMF or single tones), each
// built from a command line's --event text and sending its protocol's
// standard alarm message by default.
//
// What it owns: parsing an event per protocol (EventHelp, Defaults), and
// the account a unit gives of its call (handshake, attempts, the
// acknowledgement and its timing), printed through a SayFunc.
//
// The units are as strict as a real unit: each takes an acknowledgement
// only inside its window after its last key (Contact ID: a kissoff started
// within 1.25 s; BS 8521: an acknowledge started within 570 ms, the
// earliest of the standard's 600 ± 30 ms; TT92/TTnew: the acknowledge
// heard whole within 1 s, the simulator's own figure as a real unit's is
// not public) and never while it is already repeating; a late one is
// ignored, reported in the account, and the message repeated. So Play,
// and `edgebridge simulate`, succeed only on an acknowledgement in time.
//
// What it may import: the alarm kit and the protocol packages, whose unit
// simulators it drives; no engine, hal or store. The seams: a Unit plays
// over any alarm.Channel, so `edgebridge simulate` runs it over SIP/RTP and
// the console's `line simulate` on the simulated FXS line.
package unitsim
