// Package testkit holds the helpers the tests of several packages share, so
// that each exists once:
//
//   - WaitFor, Eventually: wait for a condition instead of sleeping and then
//     asserting (Eventually for a test that reports the failure itself).
//   - NeedTool: the external programs tests drive (SIPp, tshark,
//     espeak-ng, ...) fail the test loudly when missing, as CI installs them
//     (make deps); go test -short skips such tests for a quick local loop.
//   - StartSIPp, SIPpScenario: the SIPp harness (scenarios live in the
//     module's testdata/sipp).
//   - ChildMain, StartChild: the crash-a-child harness (a re-executed test
//     binary killed with SIGKILL mid-write).
//   - PortRange, FreeUDP: ports for RTP pools and peers, reserved across
//     test processes running at once.
//   - APIRequest: one REST call.
//   - Logger: the code under test's log, printed only when the test fails;
//     Buffer: a buffer goroutines write and the test reads at once.
//
// The module's fixed top level gains internal/ for it (and the layering
// test): the one top-level folder that holds no product code. testkit is a
// leaf that imports the standard library only, imported by _test.go files
// only.
package testkit
