package udpstamp

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// Supported says whether Enable can stamp sockets on this system.
const Supported = true

// Space is the control buffer one arrival stamp needs.
var Space = syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{})))

// Enable asks the kernel to stamp each datagram c receives with the time it
// arrived, and says whether it will.
func Enable(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return false
	}
	return true
}

// Arrival reads the kernel's arrival stamp from a datagram's control
// messages, without allocating.
func Arrival(oob []byte) (time.Time, bool) {
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
