//go:build spandsp

package dsp

// Side by side with spandsp's dtmf_rx (the reference C detector): the same
// generated cases go through both; ours must pass every graded case that
// spandsp passes. Speed is measured for both on the same audio in the same
// run. Run with `make spandsp-bench`, which builds the harness in
// testdata/spandsp and passes -spandsp=PATH.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

var spandspHarness = flag.String("spandsp", "", "path of the spandsp dtmf_rx harness (testdata/spandsp)")

type grade int

const (
	mustAccept grade = iota // the requirement says detect exactly want
	mustReject              // the requirement says detect nothing
	edge                    // between the limits: reported, not graded
)

type cmpCase struct {
	cat  string
	name string
	pcm  []int16
	want string
	g    grade
}

func harness(t *testing.T) string {
	t.Helper()
	if *spandspHarness == "" {
		t.Fatal("-spandsp=PATH not given: run `make spandsp-bench`, which builds testdata/spandsp/dtmf_harness.c against libspandsp-dev")
	}
	if _, err := os.Stat(*spandspHarness); err != nil {
		t.Fatalf("spandsp harness: %v (run `make spandsp-bench`)", err)
	}
	return *spandspHarness
}

func comparisonCases(t *testing.T) []cmpCase {
	var cs []cmpCase
	add := func(cat, name string, pcm []int16, want string, g grade) {
		for _, c := range codecs[:2] { // linear and A-law
			cs = append(cs, cmpCase{cat, c.name + " " + name, c.f(pcm), want, g})
		}
	}
	var all string
	for range 10 {
		all += allKeys
	}
	dec, _ := AppendDTMF(silence(100), all, DTMFGenConfig{LowDBm0: -4, HighDBm0: -4, OnMs: 50, OffMs: 50})
	add("decode 16×10 at −4 dBm0", "", dec, all, mustAccept)
	for k := 0; k < 16; k++ {
		key := allKeys[k]
		for _, tone := range []string{"low", "high", "both"} {
			for _, off := range []float64{0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.06} {
				for _, sign := range []float64{-1, 1} {
					lo, hi := 0.0, 0.0
					if tone != "high" {
						lo = sign * off
					}
					if tone != "low" {
						hi = sign * off
					}
					g := edge
					if off <= reqAcceptFreq+1e-9 {
						g = mustAccept
					} else if off >= reqRejectFreq-1e-9 {
						g = mustReject
					}
					want := string(key)
					if g == mustReject {
						want = ""
					}
					add("bandwidth", fmt.Sprintf("%c %s %+.1f%%", key, tone, sign*off*100), tonePair(t, key, -4, -4, lo, hi, 60), want, g)
				}
			}
		}
		for tw := -16.0; tw <= 12; tw++ {
			lo, hi := -6.0, -6.0+tw
			if tw > 0 {
				lo, hi = -6.0-tw, -6.0
			}
			g, want := edge, string(key)
			if tw >= -reqNormalTwist && tw <= reqReverseTwist {
				g = mustAccept
			} else if tw <= -ourRejectNormTw || tw >= ourRejectRevTw {
				g, want = mustReject, ""
			}
			add("twist", fmt.Sprintf("%c %+.0f dB", key, tw), tonePair(t, key, lo, hi, 0, 0, 60), want, g)
		}
		for comp := 3.0; comp >= -60; comp-- {
			per := comp - 3.01
			g, want := edge, string(key)
			if per >= reqMinLevel {
				g = mustAccept
			} else if per <= reqNeverBelow {
				g, want = mustReject, ""
			}
			add("dynamic range", fmt.Sprintf("%c %+.0f dBm0 composite", key, comp), tonePair(t, key, per, per, 0, 0, 60), want, g)
		}
	}
	for ms := 10; ms <= 60; ms++ {
		for off := 0; off < 102; off += 17 {
			key := allKeys[(ms+off)%16]
			pcm := append(make([]int16, off), tonePair(t, key, -6, -4, 0, 0, ms)...)
			g, want := edge, string(key)
			if ms >= reqAcceptMs {
				g = mustAccept
			} else if ms <= reqRejectMs {
				g, want = mustReject, ""
			}
			add("guard time", fmt.Sprintf("%d ms offset %d", ms, off), pcm, want, g)
		}
	}
	cfg := DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 60}
	for gap := 1; gap <= 60; gap++ {
		for off := 0; off < 102; off += 17 {
			pcm := append(silence(100), make([]int16, off)...)
			pcm, _ = AppendDTMF(pcm, "7", cfg)
			pcm = append(pcm, silence(gap)...)
			pcm, _ = AppendDTMF(pcm, "7", cfg)
			pcm = append(pcm, silence(100)...)
			g, want := edge, "7"
			if gap <= reqBridgeMs {
				g = mustAccept
			} else if gap >= reqPauseMs {
				g, want = mustAccept, "77"
			}
			add("interruption", fmt.Sprintf("gap %d ms offset %d", gap, off), pcm, want, g)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for snr := 24.0; snr >= 4; snr -= 2 {
		keys := make([]byte, 200)
		for i := range keys {
			keys[i] = allKeys[rng.IntN(16)]
		}
		clean, _ := AppendDTMF(silence(100), string(keys), DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 50, OffMs: 50})
		sig := PowerToDBm0(refPower*math.Pow(10, -0.6) + refPower*math.Pow(10, -0.4))
		g := edge
		if snr >= reqSNR {
			g = mustAccept
		}
		add("S/N (200 digits)", fmt.Sprintf("%.0f dB", snr), addNoise(clean, sig-snr, rng), string(keys), g)
	}
	return cs
}

func runHarness(t *testing.T, bin string, cs []cmpCase) []string {
	dir := t.TempDir()
	var list bytes.Buffer
	for i, c := range cs {
		p := filepath.Join(dir, strconv.Itoa(i)+".s16")
		b := make([]byte, 2*len(c.pcm))
		for j, s := range c.pcm {
			binary.LittleEndian.PutUint16(b[2*j:], uint16(s))
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&list, p)
	}
	cmd := exec.Command(bin, "detect", "s16")
	cmd.Stdin = &list
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spandsp harness: %v", err)
	}
	got := make([]string, len(cs))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		i, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f[0]), ".s16"))
		if err != nil || len(f) < 2 {
			t.Fatalf("harness output %q", sc.Text())
		}
		got[i] = f[1]
		n++
	}
	if n != len(cs) {
		t.Fatalf("harness answered %d of %d cases", n, len(cs))
	}
	return got
}

func TestSpandspSideBySide(t *testing.T) {
	bin := harness(t)
	cs := comparisonCases(t)
	theirs := runHarness(t, bin, cs)
	type tally struct{ graded, sp, ours, spOnly, oursOnly, edgeSp, edgeOurs, edges int }
	cats := map[string]*tally{}
	var order []string
	for i, c := range cs {
		ours := keysOf(detectAll(c.pcm, 160))
		tl := cats[c.cat]
		if tl == nil {
			tl = &tally{}
			cats[c.cat] = tl
			order = append(order, c.cat)
		}
		if c.g == edge {
			// At the edges, "detected the digit" is what counts: a wider
			// operating range (levels, S/N, durations) is better.
			tl.edges++
			if theirs[i] == c.want {
				tl.edgeSp++
			}
			if ours == c.want {
				tl.edgeOurs++
			}
			continue
		}
		tl.graded++
		sp, us := theirs[i] == c.want, ours == c.want
		if sp {
			tl.sp++
		}
		if us {
			tl.ours++
		}
		if sp && !us {
			tl.spOnly++
			t.Errorf("%s %s: spandsp passes (%q), we give %q", c.cat, c.name, theirs[i], ours)
		}
		if us && !sp {
			tl.oursOnly++
		}
	}
	t.Logf("%-26s %7s %9s %6s %12s %12s", "category", "graded", "spandsp", "ours", "edge spandsp", "edge ours")
	for _, k := range order {
		tl := cats[k]
		t.Logf("%-26s %7d %9d %6d %8d/%-4d %8d/%-4d", k, tl.graded, tl.sp, tl.ours, tl.edgeSp, tl.edges, tl.edgeOurs, tl.edges)
	}
}

func TestSpandspSpeed(t *testing.T) {
	bin := harness(t)
	dir := t.TempDir()
	signals := map[string][]byte{"digits 50/50 ms": benchAlaw(t, 10), "mixed alarm call": mixedAlarmAlaw(t)}
	for _, name := range []string{"digits 50/50 ms", "mixed alarm call"} {
		a := signals[name]
		p := filepath.Join(dir, "bench.alaw")
		if err := os.WriteFile(p, a, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "bench", "alaw", p, "3").Output()
		if err != nil {
			t.Fatalf("harness bench: %v", err)
		}
		f := strings.Fields(string(out))
		if len(f) < 4 || f[0] != "x_realtime" {
			t.Fatalf("harness bench output %q", out)
		}
		theirs, _ := strconv.ParseFloat(f[1], 64)
		ours, digits := cpuSpeed(a, 3)
		t.Logf("%s: A-law decode + DTMF detection, CPU time of one core: ours %.0f× real time (%d digits), spandsp %.0f× (%s digits), ratio %.2f",
			name, ours, digits, theirs, f[3], ours/theirs)
		if digits == 0 {
			t.Errorf("%s: no digits detected", name)
		}
	}
}

// cpuSpeed runs A-law decode and detection in 20 ms frames for at least
// secs seconds of process CPU time and returns the multiple of real time,
// and the digits per pass. CPU time, as the harness measures it, keeps the
// figure independent of the load of the machine.
func cpuSpeed(alaw []byte, secs float64) (float64, int) {
	d := NewDTMFDetector(DTMFConfig{})
	var frame [160]int16
	n := 0
	emit := func(DigitEvent) { n++ }
	t0 := cpuTime()
	runs := 0
	for cpuTime()-t0 < secs {
		d.Reset()
		for i := 0; i+160 <= len(alaw); i += 160 {
			AlawDecode(frame[:], alaw[i:i+160])
			d.Process(frame[:], emit)
		}
		d.Flush(emit)
		runs++
	}
	el := cpuTime() - t0
	return float64(runs) * float64(len(alaw)/160*160) / SampleRate / el, n / runs
}

func cpuTime() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func TestSpandspTalkOff(t *testing.T) {
	bin := harness(t)
	all, _ := talkOffMaterial(t)
	cs := make([]cmpCase, len(all))
	var seconds float64
	for i, m := range all {
		cs[i] = cmpCase{cat: "talk-off", name: m.name, pcm: m.pcm}
		seconds += float64(len(m.pcm)) / SampleRate
	}
	theirs := runHarness(t, bin, cs)
	sp, ours := 0, 0
	for i, c := range cs {
		sp += len(theirs[i])
		ours += len(detectAll(c.pcm, 160))
		if theirs[i] != "" {
			t.Logf("spandsp false digits in %s: %q", c.name, theirs[i])
		}
	}
	h := seconds / 3600
	t.Logf("talk-off over %.2f h: spandsp %d false digits (%.1f per hour), ours %d (%.1f per hour)", h, sp, float64(sp)/h, ours, float64(ours)/h)
	if ours > sp {
		t.Errorf("more false digits than spandsp: %d > %d", ours, sp)
	}
}
