// Package alarmtest holds test doubles for the alarm path, for the tests of
// the protocol packages and of the gateway:
//
//   - a lock-step pipe joining two call ends as Channels, with the
//     impairments of a real path (noise, clock offset, line tilt, G.711,
//     frame loss, jitter) applied per direction, deterministically from a
//     seed (pipe.go, call.go, silent.go);
//   - ARC, a DC-09 receiver on loopback that acknowledges and records what
//     it is sent (arc.go).
//
// It imports the alarm kit, alarm/dc09 and dsp. Only _test.go files import
// it (the layering test checks it).
package alarmtest
