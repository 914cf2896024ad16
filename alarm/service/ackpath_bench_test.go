package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/service"
)

// BenchmarkEventToAck is what an alarm call waits for between the unit's
// last key and its acknowledgement, on a real bbolt file: the event is
// authenticated and mapped against the provisioned devices and queued
// durably (the fsync), as Service.Run's queue does it. It reports the
// p50/p99 in milliseconds, with a few and with many devices, each with a
// heartbeatInterval (supervision, which Run records after the call).
func BenchmarkEventToAck(b *testing.B) {
	for _, devices := range []int{10, 2000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			db, put := service.ProvDB(b)
			put("alarmbridge", "ab1", `{"id":"ab1","name":"units","protocol":"bs8521","protocolMode":"dtmf","destinationMatch":"^5552$","alarmEventMapperId":"m1"}`)
			put("alarmeventmapper", "m1", `{"id":"m1","name":"arc","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://127.0.0.1:9?transport=tcp"}}`)
			for i := range devices {
				id := fmt.Sprintf("%08d", 10000000+i)
				put("device", id, `{"deviceId":"`+id+`","authType":"deviceid","serviceData":{"alarmBridge":{"heartbeatInterval":3600000}}}`)
			}
			prov := service.StoreProvisioning{DB: db}
			router := &service.Router{Prov: prov}
			d := delivery.New(db, delivery.StoreResolver{DB: db, Prov: prov}.Resolve, delivery.WithLogger(slog.New(slog.DiscardHandler)))
			q := &service.MappedQueue{Router: router, Domain: "d", Next: d}
			bridges, err := prov.AlarmBridges("d")
			if err != nil || len(bridges) != 1 {
				b.Fatal(bridges, err)
			}
			q.Bridge = &bridges[0]
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ev := alarm.Event{ID: fmt.Sprintf("ev-%d", i), Protocol: "bs8521", ControllerID: fmt.Sprintf("%08d", 10000000+i%devices), StatusCode: "010"}
				t0 := time.Now()
				if err := q.Enqueue(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
