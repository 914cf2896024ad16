package engine

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// stampSocket asks the kernel to stamp each datagram of pc with the time it
// arrived (SO_TIMESTAMPNS), and returns pc as a UDP socket when it can.
func stampSocket(pc net.PacketConn) *net.UDPConn {
	u, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	raw, err := u.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return u
}

// stampSpace is the control buffer one arrival stamp needs.
var stampSpace = syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{})))

// arrival reads the kernel's arrival stamp from a datagram's control
// messages, without allocating.
func arrival(oob []byte) (time.Time, bool) {
	hl := syscall.CmsgLen(0)
	for len(oob) >= hl {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hl || n > len(oob) {
			return time.Time{}, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && n >= hl+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[hl]))
			return time.Unix(int64(ts.Sec), int64(ts.Nsec)), true
		}
		oob = oob[min(len(oob), syscall.CmsgSpace(n-hl)):]
	}
	return time.Time{}, false
}
