// Package api is edgebridge's HTTP face: the local mirror of the cloud
// provisioning API under /provisioning, live call control under
// /mediaservice and /alarmbridge, the status summary and field service under
// /gateway (field.go), /openapi.json, /metrics and /healthz. https.go makes
// or loads the certificate of serve --https.
//
// New returns one http.Handler. The serial console runs the same operations by
// calling that handler in-process, so every operation is reachable over it.
// Every route but /healthz needs "Authorization: Bearer KEY" (see auth.go).
// A write that answers 2xx has been committed to the store (bbolt fsync)
// before the response is written; a refused request changes nothing.
//
// # What it owns
//
// The provisioning mirror (routes.go, resources.go, schemas.go: every path
// of the provisioning schema with its fields, enums, defaults and response
// shapes; fields.go says for each field whether the runtime reads it, keeps
// it for the cloud only, or refuses it), API keys and auth (auth.go), the
// OpenAPI document (openapi.go), media service call control (control.go),
// live alarm call control, the SIP log and pcap export (logs.go), the
// status summary and field service under /gateway with the test alarm
// (field.go), the certificate of serve --https (https.go), and /healthz.
// Validation is here, once: REST, the console and the web page (api/web)
// all go through this handler, and the runtime's loaders run the same checks
// (alarm.AlarmBridge.Validate, delivery.MapperRoute, delivery.CheckRestAuth).
//
// # What it may import
//
// engine, alarm (the kit and alarm/delivery, for their types and checks),
// store, hal and dsp; never cmd. It starts nothing of theirs: what it serves
// from the runtime comes in through Config (Metrics, Alarms, Calls,
// Firmware, SIPLog, Health, Gateway, FactoryReset), which cmd/edgebridge
// wires from the gateway.
//
// # Seams
//
// Config in; one http.Handler out. AlarmControl and CallControl are the
// interfaces the call path implements for /alarmbridge and /mediaservice;
// Health is the daemon's health check for /healthz (the gateway's Healthy);
// Gateway is the live state and field service behind /gateway, the same
// methods the console's Calls and Alarms use (their AlarmInfo and CallInfo
// are api's).
package api
