// Package layering holds the module's layering test (layering_test.go): the
// import rules between the packages, checked over every package of the
// module, each rule named in its failure message. It has no code.
//
// The rules, from the bottom up:
//
//   - dsp and store import nothing of ours (store: bbolt and the standard
//     library; dsp: the standard library and g711);
//   - hal imports only dsp;
//   - engine never imports alarm, api, hal;
//   - alarm (the kit, the protocol packages and the service side) never
//     imports engine, api, hal; the kit and the protocol packages never
//     import store, and need no database: bbolt is not among their
//     dependencies, direct or not (the service side, alarm/service and
//     alarm/delivery, may use store);
//   - firmware imports only store and hal;
//   - api may import engine, alarm, store, hal and dsp, never cmd;
//   - only cmd wires: nothing outside cmd imports a cmd package, and the
//     engine, the alarm service (alarm/service) and hal meet only under cmd;
//   - test helpers (internal/testkit, internal/softphone, alarm/alarmtest)
//     are imported by _test.go files (and other helpers) only, and
//     internal/testkit imports only the standard library;
//   - every package has a doc.go (what it owns, what it may import, its
//     seams), and every top-level folder holding Go code has rules here.
package layering
