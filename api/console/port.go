package console

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarm/serial"
	"golang.org/x/sys/unix"
)

// Port is a serial console port (tarm/serial) that can be closed while a
// read is waiting: reads time out every pollInterval (VTIME) and retry
// until data comes or Close is called.
type Port struct {
	p      *serial.Port
	closed atomic.Bool
	once   sync.Once
}

const pollInterval = 100 * time.Millisecond

// OpenSerial opens dev at baud, 8N1, raw.
func OpenSerial(dev string, baud int) (*Port, error) {
	if baud == 0 {
		baud = 115200
	}
	p, err := serial.OpenPort(&serial.Config{Name: dev, Baud: baud, ReadTimeout: pollInterval})
	if err != nil {
		return nil, err
	}
	return &Port{p: p}, nil
}

func (p *Port) Read(b []byte) (int, error) {
	quick := 0
	for {
		if p.closed.Load() {
			return 0, io.EOF
		}
		start := time.Now()
		n, err := p.p.Read(b)
		if n > 0 {
			return n, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		// With VTIME set, a read that times out returns 0 bytes (io.EOF
		// from os.File): not the end, just quiet. A hung-up line (the far
		// end closed, modem carrier lost) also reads 0 bytes, but at once;
		// many of those in a row mean the port is gone.
		if time.Since(start) < pollInterval/4 {
			if quick++; quick >= 20 {
				return 0, io.EOF
			}
		} else {
			quick = 0
		}
	}
}

func (p *Port) Write(b []byte) (int, error) { return p.p.Write(b) }

// Close ends a waiting Read within pollInterval.
func (p *Port) Close() error {
	var err error
	p.once.Do(func() {
		p.closed.Store(true)
		err = p.p.Close()
	})
	return err
}

// Stdio is the console on the process's terminal (serve --console stdio).
// When stdin is a terminal it is put in raw mode (no echo, no line
// buffering: the console edits the line itself) until Close. Reads time out
// every pollInterval (VTIME), as on a serial Port, so Close ends a waiting
// Read without relying on non-blocking mode, which stdin shares with every
// other user of the same terminal.
type Stdio struct {
	in     *os.File
	fd     int
	out    io.Writer
	saved  *unix.Termios
	closed atomic.Bool
	once   sync.Once
}

// OpenStdio wraps in and out; restore the terminal with Close.
func OpenStdio(in *os.File, out io.Writer) (*Stdio, error) {
	fd := int(in.Fd())
	s := &Stdio{in: in, fd: fd, out: out}
	// TCGETS/TCSETS and the termios layout differ on MIPS and PowerPC;
	// x/sys/unix has the right ones for each architecture.
	if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		saved := *t
		s.saved = &saved
		t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Iflag &^= unix.ICRNL | unix.IXON
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 0, uint8(pollInterval/(100*time.Millisecond))
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Read waits for input; on a terminal a quiet interval reads 0 bytes, which
// is retried until Close. On a pipe or file, end of input is io.EOF.
func (s *Stdio) Read(b []byte) (int, error) {
	quick := 0
	for {
		if s.closed.Load() {
			return 0, io.EOF
		}
		start := time.Now()
		n, err := unix.Read(s.fd, b)
		if n == 0 && err == nil && time.Since(start) < pollInterval/4 {
			// A hung-up terminal reads 0 bytes at once, forever.
			if quick++; quick >= 20 {
				return 0, io.EOF
			}
		} else {
			quick = 0
		}
		switch {
		case n > 0:
			return n, nil
		case err == unix.EINTR || err == unix.EAGAIN:
			time.Sleep(10 * time.Millisecond)
		case err != nil:
			return 0, err
		case s.saved == nil:
			return 0, io.EOF // not a terminal: 0 bytes is the end
		}
	}
}

func (s *Stdio) Write(b []byte) (int, error) { return s.out.Write(b) }

// Close ends a waiting Read (within pollInterval) and restores the
// terminal. Stdin itself stays open.
func (s *Stdio) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		if s.saved != nil {
			unix.IoctlSetTermios(s.fd, unix.TCSETS, s.saved)
		}
	})
	return nil
}
