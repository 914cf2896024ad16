package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func sipMsg(i int, t0 time.Time, callID string) SIPMessage {
	return SIPMessage{
		Time: t0.Add(time.Duration(i) * time.Second), Domain: "d", Direction: "in", Transport: "udp",
		Src: "127.0.0.1:5062", Dst: "127.0.0.1:5060", CallID: callID,
		Raw: fmt.Sprintf("INVITE sip:%d@d SIP/2.0\r\nCall-ID: %s\r\n\r\n", i, callID),
	}
}

func TestSIPLogQuery(t *testing.T) {
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 50; i++ {
		db.AppendSIP(sipMsg(i, t0, fmt.Sprintf("call-%d", i%5)))
	}
	db.AppendSIP(SIPMessage{Time: t0, Domain: "other", Raw: "OPTIONS sip:x SIP/2.0\r\n\r\n"})

	all, err := db.QuerySIP("d", SIPQuery{Limit: 1000})
	if err != nil || len(all) != 50 {
		t.Fatalf("%d messages, %v", len(all), err)
	}
	if !all[0].Time.Equal(t0) || !all[49].Time.Equal(t0.Add(49*time.Second)) {
		t.Fatalf("not oldest-first: %v .. %v", all[0].Time, all[49].Time)
	}
	last, _ := db.QuerySIP("d", SIPQuery{Limit: 3})
	if len(last) != 3 || !strings.HasPrefix(last[2].Raw, "INVITE sip:49@") {
		t.Fatalf("limit should keep the newest: %+v", last)
	}
	byCall, _ := db.QuerySIP("d", SIPQuery{CallID: "call-3", Limit: 100})
	if len(byCall) != 10 {
		t.Fatalf("call-3: %d", len(byCall))
	}
	pat, _ := db.QuerySIP("d", SIPQuery{Pattern: "sip:17@", Limit: 100})
	if len(pat) != 1 || pat[0].CallID != "call-2" {
		t.Fatalf("pattern: %+v", pat)
	}
	win, _ := db.QuerySIP("d", SIPQuery{From: t0.Add(10 * time.Second), To: t0.Add(19 * time.Second), Limit: 100})
	if len(win) != 10 || !win[0].Time.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("window: %d", len(win))
	}
	other, _ := db.QuerySIP("other", SIPQuery{})
	if len(other) != 1 {
		t.Fatalf("domains mixed: %d", len(other))
	}
}

func TestSIPLogRingWraps(t *testing.T) {
	old := sipLogCap
	sipLogCap = 20
	defer func() { sipLogCap = old }()
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 75; i++ {
		db.AppendSIP(sipMsg(i, t0, "c"))
		if i%10 == 0 {
			_ = db.FlushSIP()
		}
	}
	got, err := db.QuerySIP("d", SIPQuery{Limit: 1000})
	if err != nil || len(got) != 20 {
		t.Fatalf("ring holds %d, want 20 (%v)", len(got), err)
	}
	if !strings.HasPrefix(got[0].Raw, "INVITE sip:55@") {
		t.Fatalf("oldest kept should be 55: %q", got[0].Raw)
	}
}

func TestSIPLogSurvivesClose(t *testing.T) {
	path := t.TempDir() + "/s.db"
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.AppendSIP(sipMsg(1, time.Now(), "c1"))
	db.Close() // flushes the pending batch
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, _ := db.QuerySIP("d", SIPQuery{})
	if len(got) != 1 || got[0].CallID != "c1" {
		t.Fatalf("after reopen: %+v", got)
	}
}

func BenchmarkAppendSIP(b *testing.B) {
	db := openTest(b)
	m := sipMsg(1, time.Now(), "c")
	b.ReportAllocs()
	for b.Loop() {
		db.AppendSIP(m)
	}
}
