// Package store keeps everything edgebridge must remember in one bbolt file:
// configuration per domain and resource (working and provisory copies), the
// alarm event queue, the SIP log ring, call records and the schema version.
//
// Durability: every method that writes returns only after bbolt has committed
// and fsynced the transaction, so a caller that reports success to a user or
// an alarm unit after a write returns can rely on it surviving power loss.
// The one exception is the SIP log (AppendSIP): it is written in batches
// every 200 ms so that SIP handling never waits for the disk; a power cut
// loses at most the last batch of log lines, never configuration or alarms.
//
// Layout: every family of data has its own top-level buckets, named in the
// file that owns it (docs.go: configuration documents; siplog.go: the SIP log
// ring; calls.go: call records; schema.go: the schema version).
//
// # What it may import
//
// go.etcd.io/bbolt and the standard library; nothing of ours (the module's
// layering test checks it): every other package may build on the store,
// and it knows none of them.
//
// # Seams
//
// Documents are raw JSON per (domain, resource, id): the store does not
// know their schema. api validates what it writes; engine, alarm/service
// and delivery decode what they read. The queue (queue.go) gives delivery
// durable, ordered items with acknowledgement; the SIP log and call records
// are written by the engine and read by the API.
package store
