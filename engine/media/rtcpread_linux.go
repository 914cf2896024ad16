package media

import (
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/edgebridge/edgebridge/engine/udpstamp"
)

// rtcpPolled says that no goroutine waits on a session's RTCP socket:
// housekeeping reads what it holds once a second (RTCP comes every few
// seconds), so a call runs one goroutine per leg fewer, and the kernel
// stamps each datagram's arrival (udpstamp) so that reading late changes
// no round trip (RFC 3550 §6.4.1: LSR and DLSR are arrival times).
const rtcpPolled = true

// rtcpPollMax bounds the datagrams one poll reads: a peer that floods the
// RTCP port cannot keep housekeeping reading; the kernel drops the rest
// once the socket's buffer is full.
const rtcpPollMax = 64

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
			at, ok := udpstamp.Arrival(oob[:oobn])
			if !ok {
				at = time.Now()
			}
			if from, ok := sockaddrPort(sa); ok {
				s.rtcpDatagram(buf[:n], from, at)
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
