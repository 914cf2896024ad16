package engine

import (
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// Benchmarks against SIPp as the real peer. Each iteration is one SIPp run;
// the figure that matters is the reported rate with 0 failed calls (SIPp
// exits non-zero on any failure, which fails the benchmark).

const (
	benchCalls = 2000
	benchRate  = "1500" // calls per second SIPp offers; the measured rate is what completed
	benchLimit = "200"  // concurrent calls
	b2buaRate  = "500"
)

// benchEngine is startEngine with RTP ports for a thousand calls.
func benchEngine(b *testing.B, opts ...Option) *Engine {
	b.Helper()
	lo, hi := testkit.PortRange(b, 4000)
	e, err := New(Config{SIPAddr: "127.0.0.1:0", Domain: testDomain, RTPPortMin: lo, RTPPortMax: hi}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func sippRate(b *testing.B, wd string, calls int, args ...string) float64 {
	b.Helper()
	start := time.Now()
	s := testkit.StartSIPp(b, wd, false, args...)
	if err := s.Wait(120 * time.Second); err != nil {
		b.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	return float64(calls) / time.Since(start).Seconds()
}

// answerAndWait is the cheapest local service: answer, wait for the BYE.
var answerAndWait = CallHandlerFunc(func(ctx context.Context, c *Call) {
	if c.Answer() == nil {
		<-c.Done()
	}
})

// BenchmarkSIPpCalls compares, in the same run, SIPp uac -> SIPp uas
// directly with SIPp uac -> engine (answering) and SIPp uac -> engine ->
// SIPp uas (B2BUA through a trunk, media anchored on both legs).
func BenchmarkSIPpCalls(b *testing.B) {
	m := strconv.Itoa(benchCalls)
	common := []string{"-sn", "uac", "-m", m, "-r", benchRate, "-l", benchLimit, "-d", "0"}
	b.Run("direct-uac-uas", func(b *testing.B) {
		for range b.N {
			wd := b.TempDir()
			uas := testkit.StartSIPp(b, wd, true, "-sn", "uas")
			rate := sippRate(b, wd, benchCalls, append([]string{"127.0.0.1:" + strconv.Itoa(uas.Port)}, common...)...)
			b.ReportMetric(rate, "calls/s")
		}
	})
	b.Run("engine-answers", func(b *testing.B) {
		e := benchEngine(b, WithDirectory(trustedLoopback(b)), routeAll("bench", "2833", answerAndWait))
		for range b.N {
			rate := sippRate(b, b.TempDir(), benchCalls, append([]string{e.Addr()}, common...)...)
			b.ReportMetric(rate, "calls/s")
		}
	})
	b.Run("engine-b2bua-trunk", func(b *testing.B) {
		for range b.N {
			wd := b.TempDir()
			uas := testkit.StartSIPp(b, wd, true, "-sn", "uas")
			off := false
			e := benchEngine(b, WithDirectory(sippTrunk(uas, Trunk{TrunkID: "b", DestinationMatch: "/.*/", KeepAlive: &off})))
			testkit.WaitFor(b, "trunk", 2*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
			// Two SIPp and the engine with two anchored RTP sessions per call
			// share two cores: offered at the full rate, the callee answers
			// late enough for INVITE retransmissions, which SIPp's uas aborts
			// on. The B2BUA figure is taken at a lower offered rate.
			args := append([]string{e.Addr()}, common...)
			args[6] = b2buaRate
			rate := sippRate(b, wd, benchCalls, args...)
			b.ReportMetric(rate, "calls/s")
			e.Close()
		}
	})
}

// BenchmarkSIPpRegisterDigest measures REGISTERs completed per second, each
// a 401 challenge then a REGISTER with an MD5 digest checked against the
// stored HA1, the binding then written to the store (batched). SIPp 3.6
// cannot take digest users from -inf, so one device refreshes its binding
// from 400 concurrent transactions.
func BenchmarkSIPpRegisterDigest(b *testing.B) {
	const regs = 10000
	dir := NewStaticDirectory()
	ha1, _ := HA1("MD5", "dev0", testDomain, "pw0")
	dir.PutDevice(testDomain, Device{DeviceID: "dev0", AuthType: "credentials", HA1: ha1})
	db := openStore(b)
	e := startEngine(b, WithDirectory(dir), WithStore(db))
	wd := b.TempDir()
	sc := testkit.SIPpScenario(b, wd, "register_digest.xml")
	for range b.N {
		before := e.Stats().Registrations
		rate := sippRate(b, wd, regs, e.Addr(), "-sf", sc, "-s", "dev0", "-au", "dev0", "-ap", "pw0",
			"-m", strconv.Itoa(regs), "-r", "5000", "-l", "400")
		if got := e.Stats().Registrations - before; got != regs {
			b.Fatalf("engine accepted %d registrations, want %d", got, regs)
		}
		b.ReportMetric(rate, "registers/s")
	}
}

// rssKB reads this process's resident set from /proc.
func rssKB(b *testing.B) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseFloat(f[1], 64)
			return n
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// BenchmarkRSS100Calls reports the test process's RSS with the engine idle
// and with 100 answered calls up (SIPp uac holding each for 6 s; each call
// has its RTP session bound and running, though SIPp's built-in uac sends
// no audio). It is the engine's share of the daemon's memory, plus the
// test binary's own: run it alone (-bench RSS) for the absolute figures;
// after other benchmarks only the added MB mean much.
func BenchmarkRSS100Calls(b *testing.B) {
	for range b.N {
		e := benchEngine(b, WithDirectory(trustedLoopback(b)), routeAll("bench", "2833", answerAndWait))
		time.Sleep(200 * time.Millisecond)
		debug.FreeOSMemory() // what earlier benchmarks in this process left behind
		idle := rssKB(b)
		s := testkit.StartSIPp(b, b.TempDir(), false, e.Addr(), "-sn", "uac", "-m", "100", "-r", "100", "-l", "100", "-d", "6000")
		testkit.WaitFor(b, "100 calls up", 10*time.Second, func() bool { return e.Calls() == 100 })
		time.Sleep(time.Second)
		busy := rssKB(b)
		if err := s.Wait(30 * time.Second); err != nil {
			b.Fatalf("sipp: %v\n%s", err, s.Report())
		}
		b.ReportMetric(idle/1024, "MB-RSS-idle")
		b.ReportMetric(busy/1024, "MB-RSS-100calls")
		b.ReportMetric((busy-idle)/1024, "MB-added-by-100calls")
		e.Close()
	}
}

// BenchmarkB2BUAOverload offers 8000 calls at 4000/s (past the B2BUA's
// capacity on two shared cores) through a trunk to a SIPp uas, with the
// uac_shed scenario, which takes a 503 as a refusal: it reports goodput
// (calls completed per second of the run) and the calls refused. It is the
// profile target for the per-call cost (go test -bench B2BUAOverload
// -cpuprofile); make bench measures the daemon as a whole process.
func BenchmarkB2BUAOverload(b *testing.B) {
	const calls = 8000
	for range b.N {
		wd := b.TempDir()
		uas := testkit.StartSIPp(b, wd, true, "-sn", "uas")
		off := false
		db := openStore(b)
		e := benchEngine(b, WithStore(db), WithDirectory(sippTrunk(uas, Trunk{TrunkID: "b", DestinationMatch: "/.*/", KeepAlive: &off})))
		testkit.WaitFor(b, "trunk", 2*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
		sc := testkit.SIPpScenario(b, wd, "uac_shed.xml")
		start := time.Now()
		s := testkit.StartSIPp(b, wd, false, e.Addr(), "-sf", sc, "-s", "1000", "-m", strconv.Itoa(calls), "-r", "4000", "-l", "4000", "-trace_counts")
		if err := s.Wait(120 * time.Second); err != nil {
			b.Logf("sipp: %v", err)
		}
		secs := time.Since(start).Seconds()
		counts := s.Logs("*_counts.csv")
		rows := strings.Split(strings.TrimSpace(counts), "\n")
		head, last := strings.Split(rows[0], ";"), strings.Split(rows[len(rows)-1], ";")
		get := func(name string) float64 {
			for i, h := range head {
				if h == name && i < len(last) {
					n, _ := strconv.ParseFloat(last[i], 64)
					return n
				}
			}
			b.Fatalf("no %s in SIPp's counts", name)
			return 0
		}
		b.ReportMetric(get("9_200_Recv")/secs, "completed/s")
		b.ReportMetric(get("3_503_Recv"), "refused")
		e.Close()
	}
}
