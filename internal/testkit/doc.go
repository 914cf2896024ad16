// Package testkit holds the helpers the tests of several packages share, so
// that each exists once: the SIPp harness (SIPp scenarios live in the
// module's testdata/sipp) and a REST request helper.
//
// It is a leaf: it imports the standard library only, and only _test.go
// files import it (the layering test in the module root checks both).
package testkit
