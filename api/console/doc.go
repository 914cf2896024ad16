// Package console is the field console: a line-edited shell that a
// technician reaches over the serial header (or stdin), running the same
// operations as the REST API by calling its http.Handler in-process.
//
// There is one operation layer and two transports: `show`/`set` are GET and
// JSON-Patch on /provisioning/..., `status` reads /healthz and /metrics,
// `firmware` uses /firmware and /firmware/status. What REST does not cover
// (live calls, alarms, DTMF, tones, logs, reboot) comes through the small
// interfaces in Config, which cmd/edgebridge wires; a command whose part is
// not wired says so in one line.
//
// It imports hal (the lamps, line and relay it drives) and api (the shared
// types of calls and alarms, and the confirmation words of its operations),
// nothing else of ours; the REST operations come as the API's http.Handler,
// the rest as the interfaces of Config (Calls, Alarms, Board, FactoryReset,
// log tail), which cmd/edgebridge fills from the gateway and the daemon.
package console
