//go:build !linux

package media

// rtcpPolled is false where there is no arrival time stamp to read RTCP
// late with: a goroutine of the session waits on the RTCP socket
// (recvRTCP), so that each datagram is stamped when it arrives.
const rtcpPolled = false

func (s *Session) pollRTCP() {}
