package hal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watchdog resets the board unless Keepalive is called within Timeout.
type Watchdog interface {
	// Keepalive restarts the countdown.
	Keepalive() error
	// Timeout is the countdown the device runs with.
	Timeout() time.Duration
	// Close stops supervision on purpose (a clean shutdown), where the
	// driver allows it.
	Close() error
}

// linuxWatchdog drives /dev/watchdog. Opening the device arms it: from then
// on the board resets unless kept alive, also if this process dies.
type linuxWatchdog struct {
	mu      sync.Mutex
	f       *os.File
	timeout time.Duration
}

// OpenLinuxWatchdog opens the watchdog device and sets its timeout (rounded
// to whole seconds; the driver may pick the nearest value it supports).
func OpenLinuxWatchdog(path string, timeout time.Duration) (Watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("hal: watchdog: %w", err)
	}
	w := &linuxWatchdog{f: f}
	secs := int32(timeout / time.Second)
	if secs > 0 {
		if err := w.ioctlInt32(unix.WDIOC_SETTIMEOUT, &secs); err != nil {
			// Not fatal: some drivers have a fixed timeout. Read it back below.
			secs = 0
		}
	}
	if err := w.ioctlInt32(unix.WDIOC_GETTIMEOUT, &secs); err == nil && secs > 0 {
		w.timeout = time.Duration(secs) * time.Second
	} else {
		w.timeout = timeout
	}
	return w, nil
}

// ioctlInt32 passes a pointer to the C int the WDIOC_* calls read and
// write. The request numbers come from x/sys/unix because their direction
// bits differ by architecture (MIPS and PowerPC encode _IOR/_IOWR unlike
// arm and amd64). unix.IoctlGetInt is not used: it hands the kernel a Go
// int, which on a 64-bit big-endian board would get the value in its high half.
func (w *linuxWatchdog) ioctlInt32(req uint, v *int32) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, w.f.Fd(), uintptr(req), uintptr(unsafe.Pointer(v))); e != 0 {
		return e
	}
	return nil
}

func (w *linuxWatchdog) Keepalive() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("hal: watchdog closed")
	}
	if err := unix.IoctlWatchdogKeepalive(int(w.f.Fd())); err != nil {
		// Every driver accepts a write as a keepalive.
		_, err = w.f.Write([]byte{0})
		return err
	}
	return nil
}

func (w *linuxWatchdog) Timeout() time.Duration { return w.timeout }

// Close writes the magic 'V' first so a driver without nowayout disarms;
// with nowayout the board still resets, which is the point of nowayout.
func (w *linuxWatchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	_, _ = w.f.Write([]byte("V"))
	err := w.f.Close()
	w.f = nil
	return err
}

// SimWatchdog is the simulated watchdog: it records keepalives and reports
// whether the board would have been reset.
type SimWatchdog struct {
	mu      sync.Mutex
	timeout time.Duration
	now     func() time.Time
	last    time.Time
	kicks   int
	closed  bool
	resets  int
}

// NewSimWatchdog arms a simulated watchdog; now may be nil for the wall clock.
func NewSimWatchdog(timeout time.Duration, now func() time.Time) *SimWatchdog {
	if now == nil {
		now = time.Now
	}
	return &SimWatchdog{timeout: timeout, now: now, last: now()}
}

func (w *SimWatchdog) Keepalive() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("hal: watchdog closed")
	}
	if w.now().Sub(w.last) > w.timeout {
		w.resets++ // too late: the hardware would have reset already
	}
	w.last = w.now()
	w.kicks++
	return nil
}

func (w *SimWatchdog) Timeout() time.Duration { return w.timeout }

func (w *SimWatchdog) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}

// Kicks counts keepalives.
func (w *SimWatchdog) Kicks() int { w.mu.Lock(); defer w.mu.Unlock(); return w.kicks }

// Expired reports whether the real watchdog would have reset the board by now
// or at some earlier late keepalive.
func (w *SimWatchdog) Expired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.resets > 0 || (!w.closed && w.now().Sub(w.last) > w.timeout)
}

// RunWatchdog keeps wd alive every Timeout/3 for as long as healthy says so
// and ctx lasts. When healthy turns false it stops kicking, so a hung
// daemon gets the board reset; it returns when ctx ends, closing wd.
func RunWatchdog(ctx context.Context, wd Watchdog, healthy func() bool) error {
	every := wd.Timeout() / 3
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if healthy == nil || healthy() {
			if err := wd.Keepalive(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return wd.Close()
		case <-t.C:
		}
	}
}
