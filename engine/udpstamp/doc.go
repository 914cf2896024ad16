// Package udpstamp has the kernel stamp each datagram a UDP socket receives
// with the time it arrived (SO_TIMESTAMPNS on Linux) and reads that stamp
// back from the datagram's control messages without allocating.
//
// Two readers need it: the SIP socket's reader (engine's shedder measures
// how long each datagram waited to be read) and a media session's RTCP
// socket, read once a second rather than by a goroutine of its own, whose
// reports must carry arrival times (RFC 3550 §6.4.1: LSR and DLSR).
// Elsewhere than Linux, Enable says no and callers read the clock as they
// read the datagram.
//
// It imports only the standard library.
package udpstamp
