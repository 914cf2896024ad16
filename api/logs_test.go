package api

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

func appendCall(db *store.DB, domain, callID string, t0 time.Time) {
	inv := "INVITE sip:112@" + domain + " SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK0\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nv=0\n"
	ok := "SIP/2.0 200 OK\r\nCall-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	db.AppendSIP(store.SIPMessage{Time: t0, Domain: domain, Direction: "in", Transport: "udp", Src: "192.0.2.10:5062", Dst: "192.0.2.1:5060", CallID: callID, Raw: inv})
	db.AppendSIP(store.SIPMessage{Time: t0.Add(time.Second), Domain: domain, Direction: "out", Transport: "udp", Src: "192.0.2.1:5060", Dst: "192.0.2.10:5062", CallID: callID, Raw: ok})
}

func TestSIPLogs(t *testing.T) {
	e := newEnv(t)
	t0 := time.UnixMilli(1_700_000_000_000)
	appendCall(e.db, "d", "call-a", t0)
	appendCall(e.db, "d", "call-b", t0.Add(time.Minute))
	appendCall(e.db, "other", "call-c", t0)
	r := e.must(200, "POST", "/provisioning/logs/d/sip", obj2())
	items := r.body["logItems"].([]any)
	if len(items) != 4 {
		t.Fatalf("%d items: %s", len(items), r.raw)
	}
	inv := items[0].(map[string]any)
	want := map[string]any{"type": "request", "method": "INVITE", "requestUri": "sip:112@d", "srcIp": "192.0.2.10", "srcPort": 5062.0,
		"dstIp": "192.0.2.1", "dstPort": 5060.0, "transport": "udp", "timeStamp": float64(t0.UnixMilli()), "body": "v=0\n"}
	for k, v := range want {
		if inv[k] != v {
			t.Errorf("%s = %v, want %v", k, inv[k], v)
		}
	}
	h := inv["sipHeaders"].(map[string]any)
	if h["Call-ID"] != "call-a" || len(h["Via"].([]any)) != 2 {
		t.Errorf("headers: %v", h)
	}
	okr := items[1].(map[string]any)
	if okr["type"] != "response" || okr["statusCode"] != "200" || okr["reason"] != "OK" {
		t.Errorf("response item: %v", okr)
	}
	r = e.must(200, "POST", "/provisioning/logs/d/sip", obj2("filterPattern", "call-b"))
	if n := len(r.body["logItems"].([]any)); n != 2 {
		t.Fatalf("filter: %d", n)
	}
	r = e.must(200, "POST", "/provisioning/logs/d/sip", obj2("startTime", t0.Add(30*time.Second).UnixMilli(), "endTime", t0.Add(time.Hour).UnixMilli()))
	if n := len(r.body["logItems"].([]any)); n != 2 {
		t.Fatalf("time window: %d", n)
	}
	r = e.must(200, "POST", "/provisioning/logs/d/sip", obj2("limit", 1))
	if items := r.body["logItems"].([]any); len(items) != 1 || items[0].(map[string]any)["statusCode"] != "200" {
		t.Fatalf("limit 1 should give the newest: %s", r.raw)
	}
}

func TestCallPcap(t *testing.T) {
	e := newEnv(t)
	appendCall(e.db, "d", "call-a", time.Now())
	r := e.do("GET", "/provisioning/logs/d/sip/call-a/pcap", nil)
	if r.status != 200 || r.hdr.Get("Content-Type") != "application/vnd.tcpdump.pcap" {
		t.Fatalf("pcap: %d", r.status)
	}
	e.must(404, "GET", "/provisioning/logs/d/sip/none/pcap", nil)
	p := filepath.Join(t.TempDir(), "call.pcap")
	if err := os.WriteFile(p, r.raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := testkit.TsharkCmd(t, "-r", p, "-o", "udp.check_checksum:TRUE", "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID", "-e", "udp.checksum.status").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "INVITE\t\tcall-a") || !strings.HasPrefix(lines[1], "\t200\tcall-a") {
		t.Fatalf("tshark read:\n%s", out)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "\t1") { // udp.checksum.status 1 = Good
			t.Fatalf("UDP checksum not good: %q", l)
		}
	}
}

func TestStatistics(t *testing.T) {
	e := newEnv(t)
	day := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rec := func(id, kind string, start time.Time, talk time.Duration) {
		r := store.CallRecord{CallID: id, Domain: "d", Kind: kind, Start: start, Answer: start.Add(time.Second), End: start.Add(time.Second + talk)}
		if err := e.db.RecordCall(r); err != nil {
			t.Fatal(err)
		}
	}
	rec("1", "siprec", day, 10*time.Second)
	rec("2", "siprec", day.Add(30*time.Minute), 30*time.Second)
	rec("3", "siprec", day.Add(2*time.Hour), 5*time.Second)
	rec("4", "alarm", day, 100*time.Second)
	_ = e.db.RecordCall(store.CallRecord{CallID: "up", Domain: "d", Kind: "siprec", Start: day}) // not ended: not counted
	r := e.must(200, "GET", "/provisioning/statistics/d/cdr_siprec/hour", nil)
	st := r.body["statistics"].([]any)
	if len(st) != 2 {
		t.Fatalf("hour buckets: %s", r.raw)
	}
	b0 := st[0].(map[string]any)
	if b0["name"] != "2026-03-01T10:00Z" || b0["num_calls"] != 2.0 || b0["min_duration"] != 10.0 || b0["max_duration"] != 30.0 ||
		b0["sum_duration"] != 40.0 || b0["average_duration"] != 20.0 {
		t.Fatalf("bucket: %v", b0)
	}
	r = e.must(200, "GET", "/provisioning/statistics/d/cdr/day", nil)
	st = r.body["statistics"].([]any)
	if len(st) != 1 || st[0].(map[string]any)["num_calls"] != 4.0 || st[0].(map[string]any)["name"] != "2026-03-01" {
		t.Fatalf("all calls by day: %s", r.raw)
	}
	r = e.must(200, "GET", "/provisioning/statistics/empty/cdr_siprec/month", nil)
	if fmt.Sprint(r.body["statistics"]) != "[]" {
		t.Fatalf("no calls: %s", r.raw)
	}
}

// lastBatch stands for the engine's SIP trace: the call's last message
// reaches the store only when the trace is flushed.
type lastBatch struct {
	db      *store.DB
	pending []store.SIPMessage
}

func (l *lastBatch) FlushSIPLog() {
	for _, m := range l.pending {
		l.db.AppendSIP(m)
	}
	l.pending = nil
}

// The pcap export flushes the engine's trace first (the BYE still queued
// there is in the file) and leaves out messages whose addresses a pcap
// cannot hold instead of failing the export.
func TestCallPcapLastBatchAndBadAddresses(t *testing.T) {
	trace := &lastBatch{}
	e := newEnv(t, func(c *Config) { c.SIPLog = trace })
	trace.db = e.db
	t0 := time.UnixMilli(1_700_000_000_000)
	appendCall(e.db, "d", "call-a", t0)
	bye := func(src, dst string, at time.Duration) store.SIPMessage {
		return store.SIPMessage{Time: t0.Add(at), Domain: "d", Direction: "in", Transport: "udp", Src: src, Dst: dst, CallID: "call-a",
			Raw: "BYE sip:112@d SIP/2.0\r\nCall-ID: call-a\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"}
	}
	e.db.AppendSIP(bye("unknown", "192.0.2.1:5060", 2*time.Second))
	e.db.AppendSIP(bye("[2001:db8::10]:5062", "192.0.2.1:5060", 3*time.Second))
	trace.pending = []store.SIPMessage{bye("192.0.2.10:5062", "192.0.2.1:5060", 4*time.Second)}
	r := e.do("GET", "/provisioning/logs/d/sip/call-a/pcap", nil)
	if r.status != 200 {
		t.Fatalf("pcap: %d %s", r.status, r.raw)
	}
	pkts, err := pcap.ReadUDP(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkts {
		got = append(got, strings.SplitN(string(p.Payload), " ", 2)[0]+" "+p.Time.Sub(t0).String())
	}
	if want := "INVITE 0s,SIP/2.0 1s,BYE 4s"; strings.Join(got, ",") != want {
		t.Fatalf("pcap holds %v, want %s (the two BYEs with bad addresses left out, the queued one in)", got, want)
	}
}

// callCaptureRtpSeconds (notificationsettings, a gateway extension) is
// validated (0-60), kept, and marked as an extension in /openapi.json.
func TestCallCaptureSetting(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []any{61, -1, "10", 1.5} {
		r := e.do("PUT", "/provisioning/notificationsettings/d", obj2("callCaptureRtpSeconds", bad))
		if r.status != 400 || !strings.Contains(string(r.raw), "callCaptureRtpSeconds") {
			t.Fatalf("callCaptureRtpSeconds %v: %d %s, want 400 naming the field", bad, r.status, r.raw)
		}
	}
	e.must(200, "PUT", "/provisioning/notificationsettings/d", obj2("callCaptureRtpSeconds", 10))
	if g := e.must(200, "GET", "/provisioning/notificationsettings/d", nil); g.body["callCaptureRtpSeconds"] != 10.0 {
		t.Fatalf("settings: %s", g.raw)
	}
	spec := e.do("GET", "/openapi.json", nil)
	_, field, _ := strings.Cut(string(spec.raw), `"callCaptureRtpSeconds": {`)
	field, _, _ = strings.Cut(field, "}")
	for _, want := range []string{`"minimum": 0`, `"maximum": 60`, `"default": 0`, `"x-edgebridge-extension": "the first N seconds`} {
		if !strings.Contains(field, want) {
			t.Fatalf("/openapi.json: callCaptureRtpSeconds lacks %s:\n%s", want, field)
		}
	}
}
