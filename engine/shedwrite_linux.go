package engine

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// Writing without the runtime's write lock. Every SIP message the engine
// sends over UDP leaves from one socket, and Go lets one goroutine at a
// time write to a socket: the lock is held across the sendto, and past
// capacity a sendto that lost its P in the kernel holds it until the
// goroutine runs again, behind every runnable one. At a flood's peak 240
// goroutines (answers, BYEs, requests of the outbound legs) were queued
// on that lock, each a goroutine descriptor the runtime keeps for good.
// The kernel needs no such lock for a datagram, so the reader's socket
// sends through a duplicate of its descriptor with sendto(2) directly:
// the same socket, source address and bytes, the error returned as
// before, and a full send buffer (EAGAIN) waits the runtime's way.

// rawWriter sends datagrams through its own descriptor of a UDP socket.
type rawWriter struct {
	mu  sync.RWMutex // held to close fd, shared while sending
	fd  int          // -1 once closed
	six bool         // the socket is IPv6 (dual stack): IPv4 goes mapped
}

// newRawWriter duplicates u's descriptor, or returns nil when it cannot.
func newRawWriter(u *net.UDPConn) *rawWriter {
	raw, err := u.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{fd: -1}
	if err := raw.Control(func(s uintptr) {
		fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			return
		}
		w.fd = int(fd)
		sa, err := syscall.Getsockname(w.fd)
		_, w.six = sa.(*syscall.SockaddrInet6)
		if err != nil {
			syscall.Close(w.fd)
			w.fd = -1
		}
	}); err != nil || w.fd < 0 {
		return nil
	}
	return w
}

// writeTo sends b to addr and says whether it did: false (nothing sent)
// leaves the datagram to the socket's own WriteTo.
func (w *rawWriter) writeTo(b []byte, addr net.Addr) (int, bool, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, false, nil
	}
	var sa syscall.Sockaddr
	if ip4 := ua.IP.To4(); !w.six {
		if ip4 == nil {
			return 0, false, nil // the runtime's error
		}
		s := &syscall.SockaddrInet4{Port: ua.Port}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		ip6 := ua.IP.To16() // IPv4 mapped
		if ip6 == nil || ua.Zone != "" {
			return 0, false, nil // the runtime's error, or its zone lookup
		}
		s := &syscall.SockaddrInet6{Port: ua.Port}
		copy(s.Addr[:], ip6)
		sa = s
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.fd < 0 {
		return 0, false, nil
	}
	for {
		err := syscall.Sendto(w.fd, b, 0, sa)
		switch {
		case err == nil:
			return len(b), true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, false, nil
		}
		return 0, true, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: os.NewSyscallError("sendto", err)}
	}
}

// close closes the duplicate once no send is under way.
func (w *rawWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		syscall.Close(w.fd)
		w.fd = -1
	}
}
