package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// A panel sends Contact ID 1234 18 1 130 01 015 over a call; the receiver
// queues it and gives the kissoff although the ARC's primary is down (the
// kissoff waits for the disk, never for the network); delivery fails over
// and the backup ARC receives it as the DC-09 ADM-CID data "#1234|1130 01
// 015", encrypted over UDP.
func TestPanelToDC09ARCWithPrimaryDown(t *testing.T) {
	key := make([]byte, 16)
	backupARC := newDC09ARC(t, "127.0.0.1:0", key)
	route := Route{Name: "d/mapper/m1", Domain: "d",
		Primary: Endpoint{Protocol: ProtoDC09, URL: freeAddr(t), Transport: "tcp", Timeout: 300 * time.Millisecond},
		Backup:  &Endpoint{Protocol: ProtoDC09, URL: backupARC.addr, Transport: "udp", Key: key}}
	d := New(openDB(t), fixed(route), fastOpts()...)
	start(t, d)

	msg, err := contactid.Build("1234", "18", "1", "130", "01", "015")
	if err != nil {
		t.Fatal(err)
	}
	r, err := contactid.NewReceiver(contactid.Config{Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	p, err := contactid.NewPanel(contactid.PanelConfig{Attempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	var rep contactid.PanelReport
	out, err, perr := alarmtest.RunCall(alarmtest.Options{}, r, alarm.Call{ID: "call-1", Domain: "d"}, d, func(ctx context.Context, ch alarm.Channel) (err error) {
		rep, err = p.Send(ctx, ch, []contactid.Message{msg})
		return err
	})
	if err != nil || perr != nil || !rep.Messages[0].Acked || len(out.Events) != 1 {
		t.Fatalf("call: receiver %v, panel %v %+v, outcome %+v", err, perr, rep, out)
	}
	testkit.WaitFor(t, "the event at the backup ARC", 10*time.Second, func() bool { return backupARC.count() == 1 })
	m := backupARC.got()[0]
	if m.ID != dc09.IDADMCID || m.Data != "#1234|1130 01 015" || m.Account != "1234" || !m.Encrypted {
		t.Errorf("ARC got %+v", m)
	}
	// The ARC's ACK reaches the worker a moment after the ARC counted it.
	testkit.WaitFor(t, "one failover and one delivery counted", 10*time.Second, func() bool { s := d.Stats(); return s.Failovers == 1 && s.Delivered == 1 })
}
