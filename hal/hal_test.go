package hal

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"periph.io/x/conn/v3/gpio"
)

// The FXS call is an alarm.Channel without hal importing alarm.
var _ alarm.Channel = (*Call)(nil)

func TestLEDPatternsStepThroughBits(t *testing.T) {
	pins := [4]*SimPin{NewSimPin("p", 0), NewSimPin("l", 1), NewSimPin("a", 2), NewSimPin("n", 3)}
	l := &LEDs{pins: [numLEDs]gpio.PinOut{pins[0], pins[1], pins[2], pins[3]}}
	for i := range l.lit {
		l.lit[i] = -1
	}
	l.Set(LEDPower, On)
	l.Set(LEDLine, BlinkFast)
	l.Set(LEDAlarm, BlinkSlow)
	l.Set(LEDNetwork, Heartbeat)
	var got [4]string
	for step := 0; step < 8; step++ {
		l.show(step)
		for i, p := range pins {
			if p.Level() {
				got[i] += "#"
			} else {
				got[i] += "."
			}
		}
	}
	want := [4]string{"########", "#.#.#.#.", "####....", "#.#....."}
	if got != want {
		t.Fatalf("one second of LEDs:\n got %q\nwant %q", got, want)
	}
	// A lamp that stays lit is written once, not every step.
	if n := pins[0].Transitions(); n != 1 {
		t.Fatalf("steady lamp written %d times, want 1", n)
	}
	if l.Get(LEDLine) != BlinkFast || l.Get(LED(9)) != Off {
		t.Fatalf("Get: %v %v", l.Get(LEDLine), l.Get(LED(9)))
	}
}

func TestLEDGoroutineRunsAndCloseTurnsOff(t *testing.T) {
	p := NewSimPin("power", 0)
	l := NewLEDs(p, nil, nil, nil)
	l.Set(LEDPower, BlinkFast)
	if !testkit.Eventually(5*time.Second, func() bool { return p.Transitions() >= 3 }) {
		t.Fatalf("blinking lamp changed %d times in 5 s", p.Transitions())
	}
	l.Close()
	if p.Level() {
		t.Fatal("lamp lit after Close")
	}
	select {
	case <-l.done: // the goroutine's last act
	default:
		t.Fatal("LED goroutine still running after Close")
	}
}

func TestParseNames(t *testing.T) {
	if l, err := ParseLED("alarm"); err != nil || l != LEDAlarm {
		t.Fatalf("ParseLED alarm: %v %v", l, err)
	}
	if _, err := ParseLED("disco"); err == nil || !strings.Contains(err.Error(), "disco") {
		t.Fatalf("ParseLED disco: %v", err)
	}
	for p, n := range patternNames {
		if q, err := ParsePattern(n); err != nil || q != p {
			t.Fatalf("ParsePattern(%q) = %v %v", n, q, err)
		}
	}
}

func TestInputOutputActiveLow(t *testing.T) {
	p := NewSimPin("tamper", 0)
	p.Drive(gpio.High)
	in, _ := newInput(p, true)
	if in.Active() {
		t.Fatal("active-low input high reads active")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { time.Sleep(20 * time.Millisecond); p.Drive(gpio.Low) }()
	now, err := in.WaitChange(ctx)
	if err != nil || !now {
		t.Fatalf("WaitChange = %v %v, want true", now, err)
	}
	r := NewSimPin("relay", 1)
	out, _ := newOutput(r, true)
	if !bool(r.Level()) || out.On() {
		t.Fatal("active-low relay not released at start")
	}
	out.Set(true)
	if bool(r.Level()) || !out.On() {
		t.Fatal("active-low relay energised drives high")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := in.WaitChange(ctx2); err == nil {
		t.Fatal("WaitChange ignores a cancelled context")
	}
}

func writeTestWAV(t *testing.T, path string, pcm []int16) {
	t.Helper()
	w, err := createWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readTestWAV(t *testing.T, path string) []int16 {
	t.Helper()
	r, err := openWAVReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

// goertzel is the power of f in pcm, for checking generated tones.
func goertzel(pcm []int16, f float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/8000)
	var s1, s2 float64
	for _, x := range pcm {
		s := float64(x) + k*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

func TestSimLineCallPlaysAndRecordsWAV(t *testing.T) {
	dir := t.TempDir()
	b, err := Open("sim", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	line := b.Sim.Line

	if _, err := b.Line.Answer(); err != ErrOnHook {
		t.Fatalf("Answer on hook = %v, want ErrOnHook", err)
	}
	b.Line.Ring(true)
	if !bool(line.RingPin().Level()) || !b.Line.Ringing() {
		t.Fatal("ring output not driven")
	}

	// 3.5 frames of a ramp: the half frame at the end is the unit hanging up.
	in := make([]int16, 160*3+80)
	for i := range in {
		in[i] = int16(i * 7)
	}
	play, rec := filepath.Join(dir, "unit.wav"), filepath.Join(dir, "gw.wav")
	writeTestWAV(t, play, in)
	if err := line.DialWAV(play, rec); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Line.WaitHook(ctx, true); err != nil {
		t.Fatal(err)
	}
	var ch alarm.Channel
	call, err := b.Line.Answer()
	if err != nil {
		t.Fatal(err)
	}
	ch = call
	if b.Line.Ringing() {
		t.Fatal("still ringing after answer")
	}
	frame := make([]int16, 160)
	for f := 0; f < 3; f++ {
		if err := ch.ReadFrame(frame); err != nil {
			t.Fatalf("frame %d: %v", f, err)
		}
		if frame[0] != in[f*160] || frame[159] != in[f*160+159] {
			t.Fatalf("frame %d carries %d..%d, want %d..%d", f, frame[0], frame[159], in[f*160], in[f*160+159])
		}
		for i := range frame {
			frame[i] = -int16(f + 1)
		}
		if err := ch.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.SendDigit('5', 60); err != nil {
		t.Fatal(err)
	}
	if err := ch.SendDigit('x', 60); err == nil {
		t.Fatal("SendDigit accepted 'x'")
	}
	if err := ch.ReadFrame(frame); err != io.EOF {
		t.Fatalf("read past the unit's audio = %v, want io.EOF", err)
	}
	if b.Line.OffHook() {
		t.Fatal("unit still off hook after its audio ended")
	}
	if ch.Hangup() != nil || ch.Hangup() != nil {
		t.Fatal("Hangup twice fails")
	}
	got := readTestWAV(t, rec)
	if len(got) != 160*6 {
		t.Fatalf("recorded %d samples, want %d (3 frames + 60 ms digit)", len(got), 160*6)
	}
	if got[0] != -1 || got[320] != -3 {
		t.Fatalf("recorded frames %d %d, want -1 -3", got[0], got[320])
	}
	digit := got[480:]
	// '5' is 770 + 1336 Hz; 697 and 1209 Hz must be far weaker.
	if p, q := goertzel(digit, 770), goertzel(digit, 697); p < 100*q {
		t.Fatalf("digit row tone %g not above neighbour %g", p, q)
	}
	if p, q := goertzel(digit, 1336), goertzel(digit, 1209); p < 100*q {
		t.Fatalf("digit column tone %g not above neighbour %g", p, q)
	}
}

func TestCallFramesDoNotAllocate(t *testing.T) {
	b, _ := Open("sim", Config{})
	defer b.Close()
	src := bytes.NewReader(make([]byte, 320*1000))
	b.Sim.Line.Dial(src, io.Discard, nil)
	call, err := b.Line.Answer()
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, 160)
	allocs := testing.AllocsPerRun(200, func() {
		if err := call.ReadFrame(frame); err != nil {
			t.Fatal(err)
		}
		if err := call.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
	call.SendDigit('1', 20) // the first digit makes the generator
	if allocs := testing.AllocsPerRun(50, func() {
		if err := call.SendDigit('5', 60); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%v allocations per SendDigit, want 0", allocs)
	}
}

func TestSpoolTakesCallFromDroppedWAV(t *testing.T) {
	dir := t.TempDir()
	b, _ := Open("sim", Config{})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Sim.Line.Spool(ctx, dir, nil) }()
	writeTestWAV(t, filepath.Join(dir, "tmp"), make([]int16, 320))
	os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "call1.wav"))
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := b.Line.WaitHook(wctx, true); err != nil {
		t.Fatalf("spool did not take the line off hook: %v", err)
	}
	call, _ := b.Line.Answer()
	frame := make([]int16, 160)
	n := 0
	for call.ReadFrame(frame) == nil {
		call.WriteFrame(frame)
		n++
	}
	call.Hangup()
	cancel()
	<-done
	if n != 2 {
		t.Fatalf("read %d frames, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "call1.wav.done")); err != nil {
		t.Fatal("played file not marked done")
	}
	if got := readTestWAV(t, filepath.Join(dir, "call1.reply.wav")); len(got) != 320 {
		t.Fatalf("reply has %d samples, want 320", len(got))
	}
}

func TestDialWAVRefusesOtherRates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wide.wav")
	var b bytes.Buffer
	audiofile.WriteWAV(&b, make([]int16, 160), audiofile.PCM16)
	wav := b.Bytes()
	binary.LittleEndian.PutUint32(wav[24:], 16000) // sample rate field
	os.WriteFile(p, wav, 0o644)
	board, _ := Open("sim", Config{})
	defer board.Close()
	err := board.Sim.Line.DialWAV(p, filepath.Join(dir, "rec.wav"))
	if err == nil || !strings.Contains(err.Error(), "16000") {
		t.Fatalf("16 kHz WAV: %v", err)
	}
	if board.Line.OffHook() {
		t.Fatal("a refused file took the line off hook")
	}
}

func TestDialPlaysALawWAV(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "alaw.wav")
	f, _ := os.Create(p)
	ramp := make([]int16, 160)
	for i := range ramp {
		ramp[i] = int16(i * 100)
	}
	audiofile.WriteWAV(f, ramp, audiofile.Alaw)
	f.Close()
	board, _ := Open("sim", Config{})
	defer board.Close()
	if err := board.Sim.Line.DialWAV(p, filepath.Join(dir, "rec.wav")); err != nil {
		t.Fatal(err)
	}
	call, _ := board.Line.Answer()
	frame := make([]int16, 160)
	if err := call.ReadFrame(frame); err != nil {
		t.Fatal(err)
	}
	// A-law keeps about 5 % accuracy at these levels (G.711 segment steps).
	if d := int(frame[150]) - 15000; d < -800 || d > 800 {
		t.Fatalf("A-law sample 150 = %d, want about 15000", frame[150])
	}
}

func TestSimWatchdog(t *testing.T) {
	now := time.Unix(0, 0)
	w := NewSimWatchdog(10*time.Second, func() time.Time { return now })
	now = now.Add(9 * time.Second)
	w.Keepalive()
	now = now.Add(9 * time.Second)
	if w.Expired() {
		t.Fatal("expired though kept alive in time")
	}
	now = now.Add(2 * time.Second)
	if !w.Expired() {
		t.Fatal("not expired 11 s after the last keepalive")
	}
	w.Keepalive() // late: the reset stays on record
	if !w.Expired() || w.Kicks() != 2 {
		t.Fatalf("late keepalive: expired=%v kicks=%d", w.Expired(), w.Kicks())
	}
}

func TestRunWatchdogStopsKickingWhenUnhealthy(t *testing.T) {
	// The watchdog's clock is the test's: it runs out only when the test
	// moves it past the timeout. RunWatchdog's own ticker stays real.
	var clockMu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	w := NewSimWatchdog(30*time.Millisecond, clock)
	ctx, cancel := context.WithCancel(context.Background())
	healthy := make(chan bool, 1)
	healthy <- true
	ok := true
	var checks atomic.Int64 // health checks RunWatchdog made
	done := make(chan error)
	go func() {
		done <- RunWatchdog(ctx, w, func() bool {
			select {
			case ok = <-healthy:
			default:
			}
			checks.Add(1)
			return ok
		})
	}()
	afterChecks := func(what string, n int64) {
		t.Helper()
		from := checks.Load()
		testkit.WaitFor(t, what, 5*time.Second, func() bool { return checks.Load() >= from+n })
	}
	testkit.WaitFor(t, "three keepalives while healthy", 5*time.Second, func() bool { return w.Kicks() >= 3 })
	if w.Kicks() < 3 || w.Expired() {
		t.Fatalf("healthy: %d kicks, expired=%v", w.Kicks(), w.Expired())
	}
	healthy <- false
	testkit.WaitFor(t, "RunWatchdog to take the unhealthy state", 5*time.Second, func() bool { return len(healthy) == 0 })
	clockMu.Lock()
	now = now.Add(31 * time.Millisecond) // past the timeout since the last keepalive
	clockMu.Unlock()
	// Two more checks: a keepalive in either would have restarted the countdown.
	afterChecks("two health checks while unhealthy", 2)
	if !w.Expired() {
		t.Fatal("watchdog kept alive while unhealthy")
	}
	cancel()
	<-done
}

func TestLinuxWatchdogOnPlainFileFallsBackToWrites(t *testing.T) {
	// A plain file answers the watchdog ioctls with ENOTTY, as a driver
	// without them would; keepalive then falls back to writes.
	path := filepath.Join(t.TempDir(), "watchdog")
	os.WriteFile(path, nil, 0o600)
	w, err := OpenLinuxWatchdog(path, 7*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeout() != 7*time.Second {
		t.Fatalf("timeout %v", w.Timeout())
	}
	w.Keepalive()
	w.Keepalive()
	w.Close()
	if err := w.Keepalive(); err == nil {
		t.Fatal("keepalive after close succeeded")
	}
	b, _ := os.ReadFile(path)
	if string(b) != "\x00\x00V" {
		t.Fatalf("device got %q, want two keepalives and the magic close", b)
	}
	if _, err := OpenLinuxWatchdog(filepath.Join(t.TempDir(), "none"), time.Second); err == nil {
		t.Fatal("opened a missing watchdog")
	}
}

func TestOpenErrorsNameTheField(t *testing.T) {
	if _, err := Open("pcb", Config{}); err == nil || !strings.Contains(err.Error(), "pcb") {
		t.Fatalf("Open(pcb): %v", err)
	}
	_, err := Open("linux", Config{Tamper: "!NO_SUCH_LINE_42"})
	if err == nil || !strings.Contains(err.Error(), "Tamper") || !strings.Contains(err.Error(), "NO_SUCH_LINE_42") {
		t.Fatalf("Open(linux) with a bad pin: %v", err)
	}
}

func TestBoardRunLooksAfterLampsWatchdogAndSpool(t *testing.T) {
	dir := t.TempDir()
	b, _ := Open("sim", Config{WatchdogTimeout: 300 * time.Millisecond})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx, RunOptions{SpoolDir: dir}) }()
	testkit.WaitFor(t, "power lamp", 5*time.Second, func() bool { return b.LEDs.Get(LEDPower) == On })
	b.Line.Ring(true)
	testkit.WaitFor(t, "line lamp blinking while ringing", 5*time.Second, func() bool { return b.LEDs.Get(LEDLine) == BlinkFast })
	b.Line.Ring(false)
	writeTestWAV(t, filepath.Join(dir, "a.tmp"), make([]int16, 1600))
	os.Rename(filepath.Join(dir, "a.tmp"), filepath.Join(dir, "a.wav"))
	testkit.WaitFor(t, "line lamp lit off hook", 5*time.Second, func() bool { return b.LEDs.Get(LEDLine) == On })
	b.Sim.Pins["Tamper"].Drive(gpio.High)
	testkit.WaitFor(t, "alarm lamp on tamper", 5*time.Second, func() bool { return b.LEDs.Get(LEDAlarm) == Heartbeat })
	b.Sim.Pins["Tamper"].Drive(gpio.Low)
	testkit.WaitFor(t, "alarm lamp off when closed", 5*time.Second, func() bool { return b.LEDs.Get(LEDAlarm) == Off })
	b.Sim.Line.HangUp()
	testkit.WaitFor(t, "line lamp off on hook", 5*time.Second, func() bool { return b.LEDs.Get(LEDLine) == Off })
	if b.Sim.Watchdog.Kicks() < 2 || b.Sim.Watchdog.Expired() {
		t.Fatalf("watchdog: %d kicks, expired %v", b.Sim.Watchdog.Kicks(), b.Sim.Watchdog.Expired())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if b.LEDs.Get(LEDPower) != Off {
		t.Fatal("power lamp still on after Run")
	}
}

func TestLineTonesPlayToTheHandset(t *testing.T) {
	dir := t.TempDir()
	b, _ := Open("sim", Config{})
	defer b.Close()
	tones := LineTones{Line: b.Line}
	if err := tones.PlayTone(context.Background(), "busy", 100*time.Millisecond); err == nil {
		t.Fatal("played to an on-hook line")
	}
	// A technician's butt set off hook: silence in, the tone recorded.
	rec := filepath.Join(dir, "handset.wav")
	writeTestWAV(t, filepath.Join(dir, "quiet.wav"), make([]int16, 8000))
	if err := b.Sim.Line.DialWAV(filepath.Join(dir, "quiet.wav"), rec); err != nil {
		t.Fatal(err)
	}
	if err := tones.PlayTone(context.Background(), "whistle", time.Second); err == nil || !strings.Contains(err.Error(), "whistle") {
		t.Fatalf("unknown tone: %v", err)
	}
	if err := tones.PlayTone(context.Background(), "1000", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got := readTestWAV(t, rec)
	if len(got) != 1600 {
		t.Fatalf("recorded %d samples, want 1600 (200 ms)", len(got))
	}
	if p, q := goertzel(got, 1000), goertzel(got, 425); p < 1000*q {
		t.Fatalf("1000 Hz %g not above 425 Hz %g", p, q)
	}
}

func TestAnswerRefusesASecondOwner(t *testing.T) {
	b, _ := Open("sim", Config{})
	defer b.Close()
	b.Sim.Line.Dial(bytes.NewReader(make([]byte, 3200)), io.Discard, nil)
	call, err := b.Line.Answer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Line.Answer(); err != ErrLineBusy {
		t.Fatalf("second Answer = %v, want ErrLineBusy", err)
	}
	if err := (LineTones{Line: b.Line}).PlayTone(context.Background(), "dial", time.Second); err != ErrLineBusy {
		t.Fatalf("tone during an alarm call = %v, want ErrLineBusy", err)
	}
	call.Hangup()
}

func TestLinuxBoardWithoutParts(t *testing.T) {
	// A board whose configuration names no lines: every part reports
	// itself absent rather than failing at use.
	b, err := Open("linux", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Line != nil {
		t.Fatal("a line without hook and ring pins")
	}
	if err := b.Relay.Set(true); err == nil || !strings.Contains(err.Error(), "not fitted") {
		t.Fatalf("relay not fitted: %v", err)
	}
	if b.Tamper.Active() {
		t.Fatal("absent tamper reads active")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Tamper.WaitChange(ctx); err == nil {
		t.Fatal("absent tamper WaitChange returned without error")
	}
	run, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(run, RunOptions{}) }()
	time.Sleep(50 * time.Millisecond)
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run on a bare board did not stop")
	}
}

func BenchmarkCallReadWriteFrame(b *testing.B) {
	board, _ := Open("sim", Config{})
	defer board.Close()
	board.Sim.Line.Dial(zeros{}, io.Discard, nil)
	call, err := board.Line.Answer()
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]int16, 160)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := call.ReadFrame(frame); err != nil {
			b.Fatal(err)
		}
		if err := call.WriteFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// zeros is an endless silent line.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestLineFreeAfterTheUnitHangsUp(t *testing.T) {
	b, _ := Open("sim", Config{})
	defer b.Close()
	b.Sim.Line.Dial(bytes.NewReader(make([]byte, 320)), io.Discard, nil)
	call, _ := b.Line.Answer()
	frame := make([]int16, 160)
	call.ReadFrame(frame)
	if err := call.ReadFrame(frame); err != io.EOF {
		t.Fatalf("after the unit's audio: %v", err)
	}
	// The owner never called Hangup; the next call is still answered.
	b.Sim.Line.Dial(bytes.NewReader(make([]byte, 320)), io.Discard, nil)
	if _, err := b.Line.Answer(); err != nil {
		t.Fatalf("next call: %v", err)
	}
}

func TestListenDigitsHearsTheUnit(t *testing.T) {
	b, _ := Open("sim", Config{})
	defer b.Close()
	pcm, err := dsp.AppendDTMF(make([]int16, 800), "42#", dsp.DefaultDTMFGen())
	if err != nil {
		t.Fatal(err)
	}
	pcm = append(pcm, make([]int16, 1600)...)
	raw := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	digits, cancel := b.Line.ListenDigits()
	defer cancel()
	b.Sim.Line.Dial(bytes.NewReader(raw), io.Discard, nil)
	call, _ := b.Line.Answer()
	frame := make([]int16, 160)
	for call.ReadFrame(frame) == nil {
	}
	var got string
	for len(got) < 3 {
		select {
		case ev := <-digits:
			got += string(ev.Key)
		case <-time.After(2 * time.Second):
			t.Fatalf("heard %q, want 42#", got)
		}
	}
	if got != "42#" {
		t.Fatalf("heard %q, want 42#", got)
	}
}

func TestListeningCostsNoAllocationPerFrame(t *testing.T) {
	b, _ := Open("sim", Config{})
	defer b.Close()
	_, cancel := b.Line.ListenDigits()
	defer cancel()
	b.Sim.Line.Dial(zeros{}, io.Discard, nil)
	call, _ := b.Line.Answer()
	frame := make([]int16, 160)
	call.ReadFrame(frame) // makes the detector
	if n := testing.AllocsPerRun(200, func() { call.ReadFrame(frame) }); n != 0 {
		t.Fatalf("%v allocations per frame while listening", n)
	}
}
