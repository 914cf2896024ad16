package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// PortPool hands out RTP ports from the --rtp-ports range: an even port for
// RTP and the next odd one for RTCP (RFC 3550 §11). Ports are tried round
// robin so that a port just released is not reused at once (late packets of
// the old call would land in the new one).
type PortPool struct {
	lo, hi int // even lo, inclusive hi

	mu    sync.Mutex
	next  int
	inUse map[int]bool
	// held is len(inUse), read without the lock: the load shedder asks
	// for every INVITE, on the SIP socket's reader, while listen holds
	// the lock across its binds.
	held atomic.Int64
}

// ErrNoPorts means every port pair of the range is in use or not bindable.
var ErrNoPorts = errors.New("media: no free RTP port in range")

// NewPortPool makes a pool over the ports lo..hi inclusive. The range must
// hold at least one even/odd pair.
func NewPortPool(lo, hi int) (*PortPool, error) {
	if lo < 1024 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("media: rtp-ports %d-%d: want 1024 <= lo <= hi <= 65535", lo, hi)
	}
	if lo%2 == 1 {
		lo++
	}
	if lo+1 > hi {
		return nil, fmt.Errorf("media: rtp-ports %d-%d: holds no even/odd port pair", lo, hi)
	}
	return &PortPool{lo: lo, hi: hi, next: lo, inUse: map[int]bool{}}, nil
}

// Size is the number of RTP/RTCP pairs in the pool.
func (p *PortPool) Size() int { return (p.hi - p.lo + 1) / 2 }

// InUse is the number of pairs currently held.
func (p *PortPool) InUse() int {
	return int(p.held.Load())
}

// listen binds an RTP/RTCP socket pair on ip. Ports taken by other programs
// are skipped.
func (p *PortPool) listen(ip netip.Addr) (rtpConn, rtcpConn *net.UDPConn, port int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.Size()
	for range n {
		port = p.next
		p.next += 2
		if p.next+1 > p.hi {
			p.next = p.lo
		}
		if p.inUse[port] {
			continue
		}
		rtpConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			continue
		}
		rtcpConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
		if err != nil {
			rtpConn.Close()
			continue
		}
		p.inUse[port] = true
		p.held.Store(int64(len(p.inUse)))
		return rtpConn, rtcpConn, port, nil
	}
	return nil, nil, 0, fmt.Errorf("%w %d-%d on %s (%d pairs)", ErrNoPorts, p.lo, p.hi, ip, n)
}

func (p *PortPool) release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.held.Store(int64(len(p.inUse)))
	p.mu.Unlock()
}
