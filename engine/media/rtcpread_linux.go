package media

import (
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// rtcpPolled says that no goroutine waits on a session's RTCP socket:
// housekeeping reads what it holds once a second (RTCP comes every few
// seconds), so a call runs one goroutine per leg fewer, and the kernel
// stamps each datagram's arrival so that reading late changes no round
// trip (RFC 3550 §6.4.1: LSR and DLSR are arrival times).
const rtcpPolled = true

// rtcpPollMax bounds the datagrams one poll reads: a peer that floods the
// RTCP port cannot keep housekeeping reading; the kernel drops the rest
// once the socket's buffer is full.
const rtcpPollMax = 64

// stampArrivals asks the kernel to stamp each datagram c receives with its
// arrival time (SO_TIMESTAMPNS); without it, a datagram is stamped when read.
func stampArrivals(c *net.UDPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
}

// pollRTCP reads what the RTCP socket holds, without waiting (Go's sockets
// are non-blocking, so recvmsg says EAGAIN once it is empty). Called by
// housekeeping, a member of the session: the pair is not released meanwhile.
func (s *Session) pollRTCP() {
	rc, err := s.rtcp.conn.SyscallConn()
	if err != nil {
		return
	}
	buf := s.readBuf(true)
	var oob [64]byte
	_ = rc.Read(func(fd uintptr) bool {
		for range rtcpPollMax {
			n, oobn, _, sa, err := syscall.Recvmsg(int(fd), buf, oob[:], syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				break
			}
			if from, ok := sockaddrPort(sa); ok {
				s.rtcpDatagram(buf[:n], from, arrival(oob[:oobn]))
			}
		}
		return true
	})
}

// sockaddrPort is where a datagram came from, as ReadFromUDPAddrPort gives it.
func sockaddrPort(sa syscall.Sockaddr) (netip.AddrPort, bool) {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
	case *syscall.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ip = ip.WithZone(ifi.Name)
			}
		}
		return netip.AddrPortFrom(ip, uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}

// arrival is the kernel's time stamp in a datagram's control messages
// (SCM_TIMESTAMPNS, a struct timespec of two C longs), or now without one.
func arrival(oob []byte) time.Time {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Now()
	}
	word := bits.UintSize / 8
	for _, m := range msgs {
		if m.Header.Level != syscall.SOL_SOCKET || m.Header.Type != syscall.SCM_TIMESTAMPNS || len(m.Data) < 2*word {
			continue
		}
		long := func(b []byte) int64 {
			if word == 8 {
				return int64(binary.NativeEndian.Uint64(b))
			}
			return int64(int32(binary.NativeEndian.Uint32(b)))
		}
		return time.Unix(long(m.Data), long(m.Data[word:]))
	}
	return time.Now()
}
