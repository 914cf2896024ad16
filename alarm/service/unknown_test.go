package service_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/service"
)

// TestUnknownAccountReportedOncePerHour: alarms from an account no device
// matches are refused (no kissoff) and each is counted, but the ARC gets
// the supervision event naming the account at most once per account per
// hour, on the service's own (here injected) clock.
func TestUnknownAccountReportedOncePerHour(t *testing.T) {
	db, put := service.ProvDB(t)
	put("alarmbridge", "ab1", `{"id":"ab1","name":"units","protocol":"api","protocolMode":"dtmf","destinationMatch":"^5552$","alarmEventMapperId":"m1"}`)
	put("alarmeventmapper", "m1", `{"id":"m1","name":"arc","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://127.0.0.1:9?transport=tcp"}}`)
	prov := service.StoreProvisioning{DB: db}
	q := &recQueue{}
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	var onUnknown int
	svc := &service.Service{Router: &service.Router{Prov: prov}, Queue: q, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }, OnUnknown: func(alarm.Event) { onUnknown++ }}
	bridges, err := prov.AlarmBridges("d")
	if err != nil || len(bridges) != 1 {
		t.Fatal(bridges, err)
	}
	n := 0
	alarmFrom := func(account string) {
		t.Helper()
		n++
		ev := alarm.Event{ID: fmt.Sprintf("ev-%d", n), Protocol: "bs8521", ControllerID: account, StatusCode: "010"}
		if _, err := svc.Raise(context.Background(), "d", &bridges[0], ev); !errors.Is(err, service.ErrUnknownDevice) {
			t.Fatalf("alarm from %s: %v, want ErrUnknownDevice", account, err)
		}
	}
	reports := func() (out []string) {
		q.mu.Lock()
		defer q.mu.Unlock()
		for _, ev := range q.evs {
			if ev.Protocol != alarm.ProtoSupervision || ev.Supervision == nil || ev.Supervision.Kind != "unknownaccount" {
				t.Fatalf("queued %+v, want only unknown-account reports", ev)
			}
			out = append(out, ev.ControllerID+"@"+ev.Received.Format("15:04"))
		}
		return out
	}
	step := func(d time.Duration, account string, want ...string) {
		t.Helper()
		now = now.Add(d)
		alarmFrom(account)
		if got := reports(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("at %s after an alarm from %s: reports %v, want %v", now.Format("15:04"), account, got, want)
		}
	}
	step(0, "BEEF", "BEEF@10:30")
	step(time.Minute, "BEEF", "BEEF@10:30")                             // the unit redials: no second report
	step(time.Minute, "CAFE", "BEEF@10:30", "CAFE@10:32")               // another account has its own hour
	step(57*time.Minute, "BEEF", "BEEF@10:30", "CAFE@10:32")            // 11:29: 59 minutes on
	step(time.Minute, "BEEF", "BEEF@10:30", "CAFE@10:32", "BEEF@11:30") // an hour on: reported again
	step(time.Minute, "CAFE", "BEEF@10:30", "CAFE@10:32", "BEEF@11:30") // 11:31: 59 minutes after its report
	step(time.Minute, "CAFE", "BEEF@10:30", "CAFE@10:32", "BEEF@11:30", "CAFE@11:32")
	if got := svc.UnknownAccounts(); got != uint64(n) {
		t.Fatalf("UnknownAccounts %d, want %d (each event once)", got, n)
	}
	if onUnknown != n {
		t.Fatalf("OnUnknown called %d times, want %d", onUnknown, n)
	}
}
