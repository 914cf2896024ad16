// Command edgebridge is the alarm gateway: one binary, several subcommands.
//
// Each subcommand lives in its own file and registers itself in init, so
// main only dispatches. What is here is flag parsing, the subcommands'
// small drivers (dtmf, decode, simulate, arc, console, firmware, version)
// and, for serve, the component runner and the wiring: serve.go builds the
// components in start order (the gateway; its FXS port; the HTTP API; the
// field console; firmware confirmation), starts them, and closes them in
// reverse on SIGTERM within 2 s. The call path itself lives in
// cmd/edgebridge/internal/gateway; the work is done by the packages.
//
// # Wiring, and the one health check
//
// The gateway gets an explicit gateway.Config and returns what the API
// takes (gateway.API: metrics, alarm call control, the SIP log, the
// middleware that reloads trunks on write); nothing fills daemon fields as
// a side effect. gateway.Healthy is the daemon's one definition of healthy
// (the store answers, HTTP and SIP listen); daemon.healthy applies it to the
// addresses actually bound and serves the hardware watchdog, firmware boot
// confirmation with systemd's watchdog, and /healthz.
//
// # What it may import
//
// Everything; it is the only place that joins the engine, the alarm
// service and hal (the layering test checks that nothing else does).
package main
