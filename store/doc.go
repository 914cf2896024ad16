// Package store keeps everything edgebridge must remember in one bbolt file:
// configuration per domain and resource (working and provisory copies), the
// alarm event queue and the schema version. The SIP log and the call
// history are kept beside it, in append-only segment files of their own
// (siplog/ and calls/ in the same folder; segments.go, siplog.go,
// calls.go).
//
// Durability: every method that writes to bbolt returns only after bbolt
// has committed and fsynced the transaction, so a caller that reports
// success to a user or an alarm unit after a write returns can rely on it
// surviving power loss. The exceptions are the histories. The SIP log
// (AppendSIP) is written in batches every 200 ms so that SIP handling never
// waits for the disk, with write() and no fsync: a crash of the daemon
// loses at most the batch not yet written, a power cut also what the
// kernel had not yet written back (the last seconds of log lines). Call
// records are written before RecordCalls returns, with write(), and synced
// at most a second later: a crash of the daemon loses none, a power cut at
// most the last second of call history. Neither loses configuration or
// alarms. A record torn by either is skipped on read.
//
// Layout: every family of data in bbolt has its own top-level buckets,
// named in the file that owns it (docs.go: configuration documents;
// schema.go: the schema version; queue.go: the alarm queue). The SIP log's
// and the call history's segments are per domain, at most 4 × 4 MiB each,
// the oldest deleted first; versions that kept them in bbolt buckets are
// upgraded on Open (the SIP log dropped, call records moved).
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
// are written by the engine and read by the API. Readers that decode the
// same documents for every call (trusted networks, limits, notification
// settings) keep what they decoded with Cached (cache.go) until one of the
// collections they read is written: every write stamps the collections it
// wrote (the alarm queue, registrations and the histories none), after its
// commit and before it returns, so a write that returned is seen by the
// next read.
package store
