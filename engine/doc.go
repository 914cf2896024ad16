// Package engine is the gateway's SIP side: a user agent on UDP, TCP and TLS
// built on sipgo, a registrar for provisioned devices, upstream trunks
// (registration, keep-alive, routing, B2BUA), and the dialogs of calls.
//
// Each inbound call is routed in order (RFC 3261 §16 does not fix an order;
// the provisioning schema does): the Routes that cmd supplies (alarmbridges,
// media services, cloud SIP UAs, each by destinationMatch), then trunks,
// then devices registered here. A routed call reaches its CallHandler as a
// *Call whose media Session is the Channel the alarm code reads.
//
// The engine imports neither alarm nor api: cmd wires them together.
package engine
