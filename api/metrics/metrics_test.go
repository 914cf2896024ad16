package metrics

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// sampleLine is the exposition format's sample line, for checking every
// line we emit parses.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$`)

// scrape fetches /metrics over real HTTP and returns series -> value,
// failing on any line that is not valid exposition format.
func scrape(t *testing.T, h http.Handler) (map[string]float64, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Fatalf("content type %q", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line)
			if typed[f[2]] {
				t.Fatalf("TYPE twice for %s", f[2])
			}
			typed[f[2]] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not exposition format: %q", line)
		}
		v, err := strconv.ParseFloat(strings.Replace(m[4], "+Inf", "Inf", 1), 64)
		if err != nil {
			t.Fatalf("value in %q: %v", line, err)
		}
		out[m[1]+m[2]] = v
	}
	return out, string(body)
}

func TestRegistryTypes(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("x_total", "a counter")
	g := r.NewGauge("x_level", "a gauge\nwith \\ newline")
	h := r.NewHistogram("x_seconds", "a histogram", []float64{0.1, 1})
	c.Add(41)
	c.Inc()
	g.Set(2.5)
	g.Add(-1)
	for _, v := range []float64{0.05, 0.1, 0.5, 3} {
		h.Observe(v)
	}
	r.Register(CollectorFunc(func(w *Writer) {
		w.Family("x_labelled", "labels", "gauge")
		w.Sample("x_labelled", []string{"name", `tr"unk\1`}, 1)
	}))
	got, body := scrape(t, r)
	want := map[string]float64{
		"x_total": 42, "x_level": 1.5,
		`x_seconds_bucket{le="0.1"}`:    2, // le is inclusive: 0.1 counts
		`x_seconds_bucket{le="1"}`:      3,
		`x_seconds_bucket{le="+Inf"}`:   4,
		"x_seconds_count":               4,
		"x_seconds_sum":                 3.65,
		`x_labelled{name="tr\"unk\\1"}`: 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v\n%s", k, got[k], v, body)
		}
	}
	if !strings.Contains(body, `# HELP x_level a gauge\nwith \\ newline`) {
		t.Errorf("HELP not escaped:\n%s", body)
	}
	if !strings.Contains(body, "# TYPE x_seconds histogram") {
		t.Errorf("histogram TYPE missing:\n%s", body)
	}
}

func TestRegistryRefusesDuplicatesAndBadNames(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("a_total", "")
	for _, name := range []string{"a_total", "9lives", "has-dash", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("registered %q", name)
				}
			}()
			r.NewGauge(name, "")
		}()
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("c_total", "")
	h := r.NewHistogram("h_seconds", "", DeliveryBuckets)
	if n := testing.AllocsPerRun(1000, func() { c.Inc(); h.Observe(0.7) }); n != 0 {
		t.Fatalf("%v allocations per observation", n)
	}
}

func TestGatewayScrape(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	calls := 3
	g := NewGateway(Sources{
		Version:       "1.2.3",
		Calls:         CallsFunc(func() int { return calls }),
		Registrations: RegistrationsFunc(func() int { return 7 }),
		Trunks: TrunksFunc(func() []TrunkState {
			return []TrunkState{{Name: "arc-primary", Up: true}, {Name: "arc-backup", Up: false}}
		}),
		Alarms: AlarmsFunc(func() AlarmCounts { return AlarmCounts{Received: 10, Delivered: 8, Failed: 2, Queued: 2} }),
		RTP:    RTPFunc(func() RTPCounts { return RTPCounts{Received: 5000, Lost: 12, Jitter: 4 * time.Millisecond} }),
		DSP:    DSPFramesFunc(func() uint64 { return 123456 }),
		SIPEdge: SIPEdgeFunc(func() SIPEdgeCounts {
			return SIPEdgeCounts{Malformed: 41, Panics: 1, StrayResponses: 3, AuthFailures: 9, AuthBlocked: 4, Shed: 17, Setups: 5, QueueDelay: 30 * time.Millisecond}
		}),
		Store: db,
	})
	g.DeliveryLatency.ObserveDuration(700 * time.Millisecond)
	g.DeliveryLatency.ObserveDuration(15 * time.Second)
	got, _ := scrape(t, g)
	want := map[string]float64{
		"edgebridge_calls_active":                                   3,
		"edgebridge_registrations":                                  7,
		`edgebridge_trunk_up{trunk="arc-primary"}`:                  1,
		`edgebridge_trunk_up{trunk="arc-backup"}`:                   0,
		"edgebridge_alarms_received_total":                          10,
		"edgebridge_alarms_delivered_total":                         8,
		"edgebridge_alarms_failed_total":                            2,
		"edgebridge_alarms_queued":                                  2,
		"edgebridge_rtp_packets_received_total":                     5000,
		"edgebridge_rtp_packets_lost_total":                         12,
		"edgebridge_rtp_jitter_seconds":                             0.004,
		"edgebridge_dsp_frames_total":                               123456,
		"edgebridge_sip_malformed_total":                            41,
		"edgebridge_sip_handler_panics_total":                       1,
		"edgebridge_sip_stray_responses_total":                      3,
		"edgebridge_sip_auth_failures_total":                        9,
		"edgebridge_sip_auth_blocked_total":                         4,
		"edgebridge_sip_invites_shed_total":                         17,
		"edgebridge_sip_calls_in_setup":                             5,
		"edgebridge_sip_queue_delay_seconds":                        0.03,
		"edgebridge_store_bytes":                                    float64(db.Size()),
		`edgebridge_alarm_delivery_latency_seconds_bucket{le="1"}`:  1,
		`edgebridge_alarm_delivery_latency_seconds_bucket{le="20"}`: 2,
		"edgebridge_alarm_delivery_latency_seconds_count":           2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got[`edgebridge_build_info{version="1.2.3",goversion="`+runtime.Version()+`",goarch="`+runtime.GOARCH+`"}`] != 1 {
		t.Errorf("build info missing: %v", got)
	}
	if got["edgebridge_go_goroutines"] < 1 || got["edgebridge_go_heap_bytes"] <= 0 {
		t.Errorf("runtime gauges: %v %v", got["edgebridge_go_goroutines"], got["edgebridge_go_heap_bytes"])
	}
	if db.Size() <= 0 {
		t.Fatal("store size not positive")
	}
	// Values are read at scrape time, not copied at wiring time.
	calls = 0
	if got, _ := scrape(t, g); got["edgebridge_calls_active"] != 0 {
		t.Fatalf("active calls not re-read: %v", got["edgebridge_calls_active"])
	}
}

func TestGatewayLeavesOutMissingSources(t *testing.T) {
	got, body := scrape(t, NewGateway(Sources{}))
	for k := range got {
		if !strings.HasPrefix(k, "edgebridge_uptime") && !strings.HasPrefix(k, "edgebridge_alarm_delivery_latency") &&
			!strings.HasPrefix(k, "edgebridge_build_info") && !strings.HasPrefix(k, "edgebridge_go_") {
			t.Errorf("unexpected series %s without sources\n%s", k, body)
		}
	}
	srv := httptest.NewServer(NewGateway(Sources{}))
	defer srv.Close()
	resp, _ := http.Post(srv.URL, "text/plain", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics: %d", resp.StatusCode)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().NewHistogram("h_seconds", "", DeliveryBuckets)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Observe(float64(i%300) / 10)
	}
}

func BenchmarkScrapeGateway(b *testing.B) {
	g := NewGateway(Sources{Calls: CallsFunc(func() int { return 1 }), Trunks: TrunksFunc(func() []TrunkState { return []TrunkState{{Name: "a", Up: true}} })})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		g.WriteTo(w)
		w.Flush()
	}
}
