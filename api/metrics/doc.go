// Package metrics serves Prometheus text exposition (format 0.0.4) without
// a client library: a small registry of counters, gauges and histograms,
// and collectors that read other components' counters at scrape time.
//
// It imports nothing of ours: the gateway (cmd/edgebridge/internal/gateway,
// status.go) fills Sources with functions reading the engine, delivery and
// the store at scrape time, and the API serves the result at /metrics.
package metrics
