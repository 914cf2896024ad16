package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// startGateway runs the gateway (delivery, supervision, SIP on an ephemeral
// port, simulated board) in-process on a store holding docs, as
// resource -> id -> JSON in the "local" domain.
func startGateway(t *testing.T, docs map[string]map[string]string) *gateway {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for res, byID := range docs {
		for id, doc := range byID {
			if err := db.Put(store.Coll{Domain: "local", Resource: res}, id, []byte(doc)); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := &daemon{
		cfg: serveConfig{dataDir: dir, sipAddr: "127.0.0.1:0", rtpLo: 32000, rtpHi: 32099, hw: "sim", domain: "local"},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		db:  db,
	}
	g, err := newGateway(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Close() })
	return g
}

// A mapper with enableDestinationMonitoring has its ARC path supervised from
// start-up (DC-09 NULL link tests), before any alarm was ever sent to it;
// SCAIP bridges are not offered as INVITE routes.
func TestGatewayMonitorsMappersFromStart(t *testing.T) {
	arc := startARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"alarmeventmapper": {
			"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","enableDestinationMonitoring":true,"targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.addr + `?transport=tcp"}}`,
		},
		"alarmbridge": {
			"panels": `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`,
			"units":  `{"id":"units","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":".*","alarmEventMapperId":"arc"}`,
		},
	})
	for deadline := time.Now().Add(15 * time.Second); arc.linkTests() == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if arc.linkTests() == 0 {
		t.Fatal("no DC-09 link test reached the ARC: the path is not supervised before the first alarm")
	}
	routes := g.routes("local")
	if len(routes) != 1 || routes[0].Name != "alarmbridge/panels" {
		t.Fatalf("routes = %+v, want only the Contact ID bridge", routes)
	}
}
