// Package notify sends what the notification settings of a domain ask for
// (the provisioning schema's /notificationsettings):
//
//   - SIP events (engine.Event: registration, unregistration, callStart,
//     callAnswer, callEnd) to sipEventsRestEndpoint;
//   - service alarms (the events the gateway raises itself: a device's
//     heartbeat lost or back, an ARC path down or up, an alarm given up
//     after its last attempt) and the engine's alerts (engine.Alert, kind
//     "alert") to alarmEventsRestEndpoint.
//
// Each is one JSON POST to the endpoint as written, signed like alarm
// callbacks (delivery.Poster: restAuthentication JWT, each entry in turn on
// 401/403, Idempotency-Key = eventId). httpTimeout (default 10 s) is the
// total time for one notification, its first attempt and three retries
// (network error, 408, 429, 5xx) included. Notifications are not queued on
// disk: when the endpoint is down they are dropped after the retries and
// counted (Stats); alarms themselves go through delivery's durable queue.
//
// The settings are read for every notification, so a change applies to the
// next one. The REST API refuses what this package cannot honour (SNS
// topics, useHttpEvents false).
//
// # What it may import
//
// engine (its Event type), alarm and alarm/delivery (the alarm Event, the
// signing Poster), store (the settings). The gateway package makes it and
// hands it the engine's events (engine.WithEvents) and the service
// alarms (delivery.WithServiceAlarms, and the heartbeat events it queues).
//
// # Seams
//
// SIPEvent and ServiceAlarm never block (a full queue drops and counts);
// Run is the one goroutine that posts, owned by the gateway.
package notify
