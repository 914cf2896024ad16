//go:build unix

package media

import (
	"net"
	"syscall"
)

// drainMax bounds the datagrams drainConn discards: more than a socket's
// default receive buffer holds, while a peer that sends faster than they
// are read cannot keep the pool's lock held (the drain runs under it).
const drainMax = 4096

// drainConn reads and discards what is queued on c without waiting (Go's
// sockets are non-blocking, so recvfrom says EAGAIN once it is empty).
func drainConn(c *net.UDPConn, buf []byte) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		for range drainMax {
			if _, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT); err != nil && err != syscall.EINTR {
				break
			}
		}
		return true
	})
}
