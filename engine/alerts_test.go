package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestSIPpTrunkLostRaisesNoCarrier: a trunk whose peer (SIPp) stops
// answering its keep-alive raises one no-carrier alert naming the trunk,
// handed to the observer and kept in the store.
func TestSIPpTrunkLostRaisesNoCarrier(t *testing.T) {
	wd := t.TempDir()
	s := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "options_uas.xml"), "-m", "2")
	off := false
	dir := sippTrunk(s, Trunk{TrunkID: "ka", DestinationMatch: "/^00/", Register: &off, KeepAliveInterval: 1})
	db := openStore(t)
	var alerts alertLog
	e := startEngine(t, WithDirectory(dir), WithStore(db), WithAlerts(alerts.add))
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	testkit.WaitFor(t, "trunk down", 10*time.Second, func() bool { return !e.TrunkStatus()[0].Up })
	testkit.WaitFor(t, "the alert stored", 5*time.Second, func() bool { return len(storedAlerts(t, db)) > 0 })
	if got := alerts.String(); got != "no-carrier raised" {
		t.Fatalf("alerts: %s", got)
	}
	a := storedAlerts(t, db)[0]
	if a.AlertType != AlertNoCarrier || a.AccountID != testDomain || !strings.Contains(a.Message, "trunk ka") || a.Cleared {
		t.Fatalf("stored alert %+v", a)
	}
}
