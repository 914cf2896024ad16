//go:build unix

package media

import (
	"net"
	"syscall"
)

// drainConn reads and discards what is queued on c without waiting (Go's
// sockets are non-blocking, so recvfrom says EAGAIN once it is empty).
func drainConn(c *net.UDPConn, buf []byte) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		for {
			if _, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT); err != nil && err != syscall.EINTR {
				return true
			}
		}
	})
}
