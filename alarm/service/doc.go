// Package service is the store-backed alarm service: it takes an alarm call
// from the gateway, picks the alarmbridge and its receiver, authenticates
// and maps the events, supervises heartbeats, and hands every event to the
// queue that delivery drains.
//
// # What it owns
//
//   - Router (route.go): the alarmbridge whose destinationMatch fits the
//     called number (provisioning order; a rule that does not compile is
//     skipped); Authenticate finds the device by DeviceKey, then without the
//     device part (a unit provisioned for the controller as a whole); Map
//     applies, in order, the device's overrideInAlarmEvent, the bridge's
//     customEventMap, the event mapper's mappingRules, then alarmHandling
//     (the device's usePredefinedDestination may swap callEmergencyCenter
//     and usePredefinedDestination), and decides the voice destination:
//     callEmergencyCenter calls the device's emergencyDestination, else the
//     bridge's defaultEmergencyDestination, else the mapper's
//     targetEndpoint.defaultVoiceDestination; usePredefinedDestination the
//     latter; requestCallback and drop none (the ARC calls back, or the call
//     is cleared after the kissoff); useVoiceBridge false none. A call in
//     which nothing was decoded goes to unknownAlarmEventVoiceDestination.
//     MappedQueue maps each event on its way into a queue.
//   - Service (service.go): one alarm call end to end: Route, the receiver
//     for the bridge (the gateway passes alarm/multi's ForBridge), Run the
//     receiver over the call's Channel, map and queue each event, and the
//     CallResult with the voice destination.
//   - Supervisor (heartbeat.go): device heartbeats (provisioning schema:
//     the device's serviceData.alarmBridge.heartbeatInterval, else the
//     alarmbridge's defaultHeartbeatInterval);
//     a device silent past its interval raises a supervision event
//     (offline), and its next beat a restore (online). State is kept in the
//     store, so supervision survives a restart.
//   - StoreProvisioning (storeprov.go): alarm.Provisioning over the store's
//     working copies of /alarmbridge, /alarmeventmapper and /device; a
//     document that does not decode is skipped and logged, not fatal.
//
// Every rule above that comes from the provisioning schema is named there
// by its field; route_test.go names the rule each case covers.
//
// # What it may import
//
// The alarm kit and store (and dsp). Not engine, api, hal, and not the
// protocol packages: the receiver comes in through Service.NewReceiver.
//
// # Seams
//
// In: an alarm.Channel and alarm.Call from the gateway, an alarm.Queue to
// put events in (the gateway's: delivery plus the console's recent list).
// Out: CallResult.Voice, the number the gateway bridges the call to.
package service
