package console

import (
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

func termios(t *testing.T, fd uintptr) unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *tio
}

func TestStdioRawModeAndRestore(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if !IsTerminal(tty) {
		t.Fatal("pty slave is not a terminal")
	}
	before := termios(t, tty.Fd())
	if before.Lflag&unix.ECHO == 0 {
		t.Fatal("a fresh pty has no echo; the test proves nothing")
	}
	s, err := OpenStdio(tty, tty)
	if err != nil {
		t.Fatal(err)
	}
	raw := termios(t, tty.Fd())
	if raw.Lflag&(unix.ECHO|unix.ICANON) != 0 {
		t.Fatalf("console terminal still echoes or is line-buffered: lflag %#x", raw.Lflag)
	}
	ptmx.Write([]byte("x")) // no Enter: raw mode delivers the key at once
	b := make([]byte, 8)
	n, err := s.Read(b)
	if err != nil || string(b[:n]) != "x" {
		t.Fatalf("read %q %v", b[:n], err)
	}
	// Close ends a Read that is waiting, and restores the terminal.
	done := make(chan error, 1)
	go func() { _, err := s.Read(b); done <- err }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read after Close returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Read")
	}
	after := termios(t, tty.Fd())
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag {
		t.Fatalf("terminal not restored: lflag %#x want %#x", after.Lflag, before.Lflag)
	}
}
