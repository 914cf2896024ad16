// userbench measures edgebridge as a user meets it, whole processes on real
// files and sockets, for `make bench`:
//
//   - decode: CPU time (user+system) of `edgebridge dtmf --in` on a long
//     WAV against spandsp's dtmf_rx in the C harness of testdata/spandsp
//     reading the same file, alternating the two, and the RSS of dtmf;
//   - sip: calls completed per second through the daemon as a B2BUA
//     (SIPp uac -> serve -> trunk -> SIPp uas) against SIPp uac -> SIPp uas
//     directly, alternating, at each offered rate; only 503s may fail;
//     and the daemon's CPU time per completed call (/proc/PID/stat over
//     the run), which counts only the time the daemon ran;
//   - overload: the best b2bua goodput over a ladder of offered rates
//     (doubled past its last step while the daemon keeps up, so that the
//     best is its capacity, not the ladder's top), then the goodput at
//     twice that, each run with the datagrams the machine's
//     full sockets dropped meanwhile (SIPp's, given 1 MiB buffers: see
//     sippBuffer);
//   - memory: the daemon's RSS idle, with 100 calls up, right after floods
//     of refused and completed calls, and a minute later;
//   - ivr: the media service's webhook round trip (a key's end to the next
//     getIvrCommand at the application, p50/p99) and the daemon's RSS with
//     concurrent IVR sessions (ivr.go).
//
// Figures are medians of the runs; the machine may be shared, so CPU time
// (not wall time) is compared where it can be.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	bin       = flag.String("bin", "bin/edgebridge", "edgebridge binary")
	spandsp   = flag.String("spandsp", "bin/spandsp-dtmf", "spandsp harness (testdata/spandsp)")
	pprofAddr = flag.String("pprof", "", "serve the daemon's Go profiles on this loopback ADDR (serve --pprof), to see what it holds after a flood")
	wav       = flag.String("wav", "bin/bench/60min.wav", "long 8 kHz PCM16 WAV")
	scenario  = flag.String("uac", "testdata/sipp/uac_shed.xml", "SIPp uac scenario")
	runs      = flag.Int("runs", 5, "runs of each decode program")
	sipRuns   = flag.Int("sip-runs", 3, "runs of each SIP path per rate")
	calls     = flag.Int("calls", 8000, "calls per SIP run")
	rates     = flag.String("rates", "500,4000", "offered call rates (calls/s)")
	only      = flag.String("only", "decode,sip,memory,ivr", "sections to run")
	ivrCalls  = flag.Int("ivr-calls", 20, "concurrent IVR sessions")
	ivrKeys   = flag.Int("ivr-keys", 20, "keys (round trips) per IVR session")
	settle    = flag.Duration("settle", time.Minute, "how long memory may take to return")
	ladder    = flag.String("ladder", "250,500,1000,2000", "offered rates (calls/s) tried to find the B2BUA's capacity; doubled past the last while it keeps up (goodput >= 90 % of offered), up to 16000/s")
	daemonLog = flag.String("daemon-log", "", "append the daemon's log to this file (its shedding lines name why it refused)")
	sippBuf   = flag.Int("sipp-buffer", 1<<20, "SIPp's socket buffers in bytes (-buff_size; 0: SIPp's own 64 KiB)")
)

func main() {
	flag.Parse()
	work, err := os.MkdirTemp("", "edgebridge-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(work)
	if strings.Contains(*only, "decode") {
		decode()
	}
	var d *daemon
	if strings.Contains(*only, "sip") || strings.Contains(*only, "memory") || strings.Contains(*only, "ivr") {
		if d, err = startDaemon(work); err != nil {
			fail(err)
		}
		defer d.stop()
	}
	if strings.Contains(*only, "memory") {
		// Idle is the daemon at rest: after its first memory return
		// (every 10 s, memlimit.go), not in the middle of starting.
		time.Sleep(time.Until(d.started.Add(12 * time.Second)))
		d.idle = d.rssMB()
		d.idleAnon = d.rss()["RssAnon:"]
		fmt.Printf("\n== memory: daemon RSS (anon: the daemon's own memory; file: its binary and database pages mapped)\nidle                         %s   goal < 16 MB\n", d.rssLine())
		concurrent(d, work)
	}
	if strings.Contains(*only, "sip") {
		sip(d, work)
		capacity(d, work)
	}
	if strings.Contains(*only, "memory") {
		flood(d, work)
	}
	if strings.Contains(*only, "ivr") {
		ivrBench(d, *ivrCalls, *ivrKeys)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "userbench:", err)
	os.Exit(1)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// cpu runs cmd and returns its CPU time (user+system) in seconds and its
// peak RSS in MB.
func cpu(cmd *exec.Cmd) (float64, float64, error) {
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	t := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return t, float64(ru.Maxrss) / 1024, nil
}

func decode() {
	abs, _ := filepath.Abs(*wav)
	fi, err := os.Stat(abs)
	if err != nil {
		fail(err)
	}
	fmt.Printf("== decode: %s (%.1f MB, %.0f min of 8 kHz PCM16), %d runs each, alternating\n", *wav, float64(fi.Size())/1e6, float64(fi.Size())/2/8000/60, *runs)
	var ours, theirs, rss, drss []float64
	var digitsOurs, digitsTheirs int
	for range *runs {
		var out bytes.Buffer
		c := exec.Command(*bin, "dtmf", "--in", abs)
		c.Stdout = &out
		t, r, err := cpu(c)
		if err != nil {
			fail(err)
		}
		ours, rss = append(ours, t), append(rss, r)
		digitsOurs = bytes.Count(out.Bytes(), []byte("\n"))

		out.Reset()
		c = exec.Command(*spandsp, "detect", "s16")
		c.Stdin = strings.NewReader(abs + "\n")
		c.Stdout = &out
		if t, _, err = cpu(c); err != nil {
			fail(err)
		}
		theirs = append(theirs, t)
		if f := strings.Split(out.String(), "\t"); len(f) >= 2 {
			digitsTheirs = len(f[1])
		}

		c = exec.Command(*bin, "decode", "--in", abs)
		c.Stdout = io.Discard
		if _, r, err = cpu(c); err != nil {
			fail(err)
		}
		drss = append(drss, r)
	}
	o, s := median(ours), median(theirs)
	fmt.Printf("edgebridge dtmf   CPU %.3f s  (%d digits)\n", o, digitsOurs)
	fmt.Printf("spandsp dtmf_rx   CPU %.3f s  (%d digits)\n", s, digitsTheirs)
	fmt.Printf("ratio ours/spandsp    %.2f    (goal <= 0.80)\n", o/s)
	fmt.Printf("RSS edgebridge dtmf   %.1f MB  (goal < 16)\n", median(rss))
	fmt.Printf("RSS edgebridge decode %.1f MB\n", median(drss))
}

type daemon struct {
	cmd        *exec.Cmd
	sip, http  string
	key        string
	idle       float64
	idleAnon   float64
	uasPort    int
	uas        *exec.Cmd
	dir, trunk string
	started    time.Time
}

func freePort() int {
	for {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		u.Close()
		t, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			t.Close()
			return p
		}
	}
}

func startDaemon(work string) (*daemon, error) {
	d := &daemon{key: "bench-admin-key-0123456789", dir: filepath.Join(work, "data")}
	d.sip = fmt.Sprintf("127.0.0.1:%d", freePort())
	d.http = fmt.Sprintf("127.0.0.1:%d", freePort())
	args := []string{"serve", "--data", d.dir, "--http", d.http, "--sip", d.sip,
		// Below the kernel's ephemeral ports (32768 and up), where
		// freePort finds SIPp's: the daemon keeps ended calls' RTP
		// sockets bound in its pool, and a SIPp port picked inside its
		// range could be taken before SIPp binds it.
		"--rtp-ports", "20000-29999", "--console", "off", "--admin-key", d.key}
	if *pprofAddr != "" {
		args = append(args, "--pprof", *pprofAddr)
	}
	d.cmd = exec.Command(*bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = io.Discard, io.Discard
	if *daemonLog != "" {
		f, err := os.OpenFile(*daemonLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the daemon holds its own copy
		d.cmd.Stderr = f
	}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	d.started = time.Now()
	for i := 0; ; i++ {
		if res, err := http.Get("http://" + d.http + "/healthz"); err == nil && res.StatusCode == 200 {
			res.Body.Close()
			break
		}
		if i > 100 {
			d.stop()
			return nil, fmt.Errorf("daemon not healthy on %s", d.http)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// SIPp calls from 127.0.0.1: trusted by a provisioned network, not
	// by being on loopback.
	if err := d.api("POST", "/provisioning/trustednetwork/local", `{"network":"127.0.0.1/32"}`); err != nil {
		d.stop()
		return nil, err
	}
	time.Sleep(time.Second)
	return d, nil
}

func (d *daemon) api(method, path, body string) error {
	req, _ := http.NewRequest(method, "http://"+d.http+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return nil
}

// trunkTo points the bench trunk at a SIPp uas on port.
func (d *daemon) trunkTo(port int) error {
	body := fmt.Sprintf(`{"destinationTarget":"127.0.0.1:%d","destinationTransport":"udp","destinationMatch":"^1000$","keepAlive":false}`, port)
	err := d.api("PUT", "/provisioning/trunk/local/bench", body)
	time.Sleep(300 * time.Millisecond)
	return err
}

// goMetrics is the Go runtime's view of the daemon's memory, from /metrics.
func (d *daemon) goMetrics() string {
	req, _ := http.NewRequest("GET", "http://"+d.http+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+d.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	var out []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "edgebridge_go_") {
			v, _ := strconv.ParseFloat(f[1], 64)
			if strings.HasSuffix(f[0], "_bytes") {
				out = append(out, fmt.Sprintf("%s %.1f MB", strings.TrimPrefix(f[0], "edgebridge_go_"), v/1e6))
			} else {
				out = append(out, fmt.Sprintf("%s %.0f", strings.TrimPrefix(f[0], "edgebridge_go_"), v))
			}
		}
	}
	return strings.Join(out, ", ")
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
}

func (d *daemon) rssMB() float64 { return d.rss()["VmRSS:"] }

// cpuSeconds is the CPU time (user and system) the daemon has used.
func (d *daemon) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// After the command's name, which may hold spaces: state is field 3,
	// utime and stime fields 14 and 15, in clock ticks (100 a second).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// b2bua offers the daemon n calls at rate, trunked to a fresh SIPp uas,
// and also gives the daemon's CPU time per completed call in ms: less
// sensitive than calls/s to what else the machine runs, since it counts
// only the time the daemon ran.
func (d *daemon) b2bua(work string, n, rate int) (sippResult, float64) {
	u, port := uas(work)
	defer stopCmd(u)
	if err := d.trunkTo(port); err != nil {
		fail(err)
	}
	if *daemonLog != "" {
		if f, err := os.OpenFile(*daemonLog, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			fmt.Fprintf(f, "userbench: b2bua %d calls at %d/s from %s\n", n, rate, time.Now().UTC().Format(time.TimeOnly))
			f.Close()
		}
	}
	c0 := d.cpuSeconds()
	r := uac(work, d.sip, n, rate, 0)
	return r, 1000 * (d.cpuSeconds() - c0) / float64(max(r.completed, 1))
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes: the
// figures of a shared machine are worth what its load lets them be.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// rss reads the daemon's resident memory in MB: VmRSS (all), RssAnon (its
// own heap, stacks and buffers) and RssFile (mapped files: the binary and
// the bbolt database, pages the kernel takes back under pressure).
func (d *daemon) rss() map[string]float64 {
	out := map[string]float64{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && (fs[0] == "VmRSS:" || strings.HasPrefix(fs[0], "Rss")) {
			kb, _ := strconv.ParseFloat(fs[1], 64)
			out[fs[0]] = kb / 1024
		}
	}
	return out
}

// rssLine is RSS split as rss gives it.
func (d *daemon) rssLine() string {
	r := d.rss()
	return fmt.Sprintf("%6.1f MB   (anon %.1f, file %.1f)", r["VmRSS:"], r["RssAnon:"], r["RssFile:"])
}

// uas starts a SIPp uas that answers every call.
func uas(work string) (*exec.Cmd, int) {
	port := freePort()
	c := exec.Command("sipp", append([]string{"-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(freePort()), "-nostdin"}, sippBuffer()...)...)
	c.Dir = work
	c.Stdout, c.Stderr = io.Discard, io.Discard
	if err := c.Start(); err != nil {
		fail(fmt.Errorf("sipp: %w (the Debian package sip-tester)", err))
	}
	// Listening once its port cannot be bound again; a uas that is not
	// there would turn a run into 10 s timeouts that look like the daemon's.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid)); strings.Contains(string(st), ") Z ") {
			fail(fmt.Errorf("sipp uas on port %d exited at start", port))
		}
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			break
		} else {
			u.Close()
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("sipp uas did not listen on port %d in 10 s", port))
		}
	}
	return c, port
}

func stopCmd(c *exec.Cmd) {
	c.Process.Kill()
	c.Wait()
}

type sippResult struct {
	completed, refused, failed int
	seconds                    float64
	drops                      int // datagrams the machine's UDP sockets dropped, full, during the run
}

// sippBuffer is SIPp's option for its socket buffers. SIPp shares the two
// cores with the daemon here (a real caller and trunk do not): with its
// own 64 KiB a SIPp starved of the CPU for a few tens of milliseconds
// drops datagrams, and the calls they belonged to retransmit 0.5 to 3.5 s
// later, which lengthens a run and lowers the goodput counted against the
// daemon. The same for direct and b2bua runs. The kernel caps it at
// net.core.rmem_max.
func sippBuffer() []string {
	if *sippBuf <= 0 {
		return nil
	}
	return []string{"-buff_size", strconv.Itoa(*sippBuf)}
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because a
// socket's receive buffer was full (/proc/net/snmp), machine-wide.
func udpRcvbufErrors() int {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var head []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.Atoi(f[i])
				return n
			}
		}
	}
	return 0
}

func (r sippResult) goodput() float64 { return float64(r.completed) / r.seconds }

// uac offers n calls at rate to target (host:port) calling 1000, with
// hold ms between answer and BYE, and counts what happened to them.
func uac(work, target string, n, rate, hold int) sippResult {
	return uacCall(work, target, "1000", n, rate, hold)
}

func uacCall(work, target, called string, n, rate, hold int) sippResult {
	dir, _ := os.MkdirTemp(work, "uac-")
	defer os.RemoveAll(dir)
	abs, _ := filepath.Abs(*scenario)
	// SIPp's -timeout does not end a run whose calls wait for an answer that
	// never comes: -recv_timeout fails such a call after 10 s, and the run
	// is killed after 90 s whatever happens.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "sipp", target, "-sf", abs, "-s", called, "-recv_timeout", "10s", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort()),
		"-mp", strconv.Itoa(freePort()), "-m", strconv.Itoa(n), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(max(n/2, 200)),
		"-d", strconv.Itoa(hold), "-nostdin", "-timeout", "60s", "-trace_counts", "-trace_stat", "-max_socket", "100")
	c.Args = append(c.Args, sippBuffer()...)
	c.Dir = dir
	c.Stdout, c.Stderr = io.Discard, io.Discard
	drops := udpRcvbufErrors()
	start := time.Now()
	_ = c.Run() // non-zero when calls failed: counted below
	res := sippResult{seconds: time.Since(start).Seconds(), drops: udpRcvbufErrors() - drops}
	counts := lastRow(dir, "*_counts.csv")
	res.completed = counts["9_200_Recv"]
	res.refused = counts["3_503_Recv"]
	stat := lastRow(dir, "uac_shed_*_.csv")
	res.failed = stat["FailedCall(C)"]
	return res
}

// lastRow reads the last line of SIPp's ;-separated CSV file matching glob.
func lastRow(dir, glob string) map[string]int {
	files, _ := filepath.Glob(filepath.Join(dir, glob))
	out := map[string]int{}
	if len(files) == 0 {
		return out
	}
	f, err := os.Open(files[0])
	if err != nil {
		return out
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.FieldsPerRecord, r.LazyQuotes = ';', -1, true
	recs, _ := r.ReadAll()
	if len(recs) < 2 {
		return out
	}
	head, last := recs[0], recs[len(recs)-1]
	for i, h := range head {
		if i < len(last) {
			out[h], _ = strconv.Atoi(last[i])
		}
	}
	return out
}

func sip(d *daemon, work string) {
	fmt.Printf("\n== sip: %d calls per run at each offered rate; SIPp uac -> SIPp uas (direct) and SIPp uac -> edgebridge serve -> trunk -> SIPp uas (b2bua), alternating, %d runs each; load average %s\n", *calls, *sipRuns, loadAvg())
	for _, rs := range strings.Split(*rates, ",") {
		rate, _ := strconv.Atoi(rs)
		var direct, b2b, perCall []float64
		var last sippResult
		other := 0
		for range *sipRuns {
			u, port := uas(work)
			r := uac(work, fmt.Sprintf("127.0.0.1:%d", port), *calls, rate, 0)
			stopCmd(u)
			direct = append(direct, r.goodput())

			r, ms := d.b2bua(work, *calls, rate)
			b2b = append(b2b, r.goodput())
			perCall = append(perCall, ms)
			last = r
			other += r.failed
		}
		dm, bm := median(direct), median(b2b)
		fmt.Printf("offered %5d/s  direct %6.0f calls/s   b2bua %6.0f calls/s  = %3.0f %% of direct   daemon CPU %.2f ms per completed call   (last run: %d completed, %d refused 503, %d failed otherwise; all runs: %d failed otherwise; load average %s)\n",
			rate, dm, bm, 100*bm/dm, median(perCall), last.completed, last.refused, last.failed, other, loadAvg())
	}
}

// maxLadder bounds the offered rates capacity tries past the ladder.
const maxLadder = 16000

// capacity finds the B2BUA's best goodput over a ladder of offered rates,
// then offers twice that and reports the goodput held there: past its
// capacity the daemon sheds what it cannot take (503) and must still
// complete what it took.
func capacity(d *daemon, work string) {
	fmt.Printf("\n== overload: b2bua goodput over offered rates %s (about 3 s of calls each), then at 2x the best; load average %s\n", *ladder, loadAvg())
	best, bestRate := 0.0, 0
	step := func(rate int) (keptUp bool) {
		r, ms := d.b2bua(work, max(3*rate, 1000), rate)
		fmt.Printf("offered %5d/s  goodput %6.0f calls/s   (%d completed, %d refused 503, %d failed otherwise, %.1f s; daemon CPU %.2f ms per completed call; %d datagrams dropped by full sockets)\n", rate, r.goodput(), r.completed, r.refused, r.failed, r.seconds, ms, r.drops)
		if r.goodput() > best {
			best, bestRate = r.goodput(), rate
		}
		return r.goodput() >= 0.9*float64(rate)
	}
	rate, keptUp := 0, false
	for _, rs := range strings.Split(*ladder, ",") {
		rate, _ = strconv.Atoi(rs)
		keptUp = step(rate)
	}
	// A daemon that kept up with the ladder's top has more to give: the
	// best of the ladder alone would understate its capacity, and twice
	// that would not be past it.
	for keptUp && rate > 0 && rate < maxLadder {
		rate *= 2
		keptUp = step(rate)
	}
	over := int(2 * best)
	var good []float64
	other := 0
	for range *sipRuns {
		r, ms := d.b2bua(work, max(3*over, 1000), over)
		good = append(good, r.goodput())
		other += r.failed
		fmt.Printf("offered %5d/s  goodput %6.0f calls/s   (%d completed, %d refused 503, %d failed otherwise, %.1f s; daemon CPU %.2f ms per completed call; %d datagrams dropped by full sockets)\n", over, r.goodput(), r.completed, r.refused, r.failed, r.seconds, ms, r.drops)
	}
	g := median(good)
	fmt.Printf("capacity (best goodput) %.0f calls/s at %d/s offered; at 2x (%d/s offered) goodput %.0f calls/s = %.0f %% of the best (goal >= 90 %%), median of %d; %d failed otherwise; load average %s\n",
		best, bestRate, over, g, 100*g/best, *sipRuns, other, loadAvg())
}

func concurrent(d *daemon, work string) {
	u, port := uas(work)
	defer stopCmd(u)
	if err := d.trunkTo(port); err != nil {
		fail(err)
	}
	done := make(chan sippResult)
	go func() { done <- uac(work, d.sip, 100, 100, 6000) }()
	time.Sleep(3500 * time.Millisecond) // all 100 up by 1 s, BYE from 6 s
	fmt.Printf("100 calls up                 %s   goal < 48 MB\n", d.rssLine())
	r := <-done
	if r.completed != 100 {
		fmt.Printf("   (only %d of 100 calls completed)\n", r.completed)
	}
}

func flood(d *daemon, work string) {
	before := d.rssLine()
	// Refused: 2000 INVITEs for a number nothing routes (404), three
	// times; then completed calls through the trunk.
	u, port := uas(work)
	if err := d.trunkTo(port); err != nil {
		fail(err)
	}
	for range 3 {
		uacCall(work, d.sip, "9999", 2000, 4000, 0)
	}
	uac(work, d.sip, *calls, 4000, 0)
	stopCmd(u)
	fmt.Printf("before the floods            %s\nright after                  %s   (3 x 2000 refused INVITEs, %d calls at 4000/s)\n", before, d.rssLine(), *calls)
	start := time.Now()
	for time.Since(start) < *settle {
		time.Sleep(5 * time.Second)
		if d.rssMB() <= d.idle+10 {
			break
		}
	}
	fmt.Printf("after %3.0f s                  %s   goal: within 10 MB of idle (%.1f MB, anon %.1f) within a minute\n", time.Since(start).Seconds(), d.rssLine(), d.idle, d.idleAnon)
	fmt.Printf("   (daemon's /metrics then: %s)\n", d.goMetrics())
}
