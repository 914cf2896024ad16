package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/engine/udpstamp"
)

// PortPool hands out RTP ports from the --rtp-ports range: an even port for
// RTP and the next odd one for RTCP (RFC 3550 §11).
//
// A pair a session released stays bound and goes back to the pool: binding
// and closing two sockets per leg (socket, bind, epoll registration and
// their undoing) was a tenth of a B2BUA call's CPU. It is handed out again
// only after a quarantine (reuseAfter), as SBCs age their ports, so that
// the late packets of the old call do not land in the new one; until then
// new ports are bound, round robin over the range, while fewer than maxIdle
// pairs are idle (file descriptors are few on a gateway): with that many,
// or when the range is used up, the pair released longest ago is handed out
// even inside its quarantine. So the pool holds at most maxIdle idle pairs
// beyond those a drop in calls just released; a release past twice that is
// closed at once. What a reused socket received meanwhile is drained before
// the new session sees it. Pairs idle for idleClose are closed, so that
// sockets bound for a flood do not stay bound.
type PortPool struct {
	lo, hi int // even lo, inclusive hi

	mu      sync.Mutex
	next    int
	inUse   map[int]bool // pairs held by sessions
	idle    []*portPair  // released pairs, oldest first
	bound   map[int]bool // ports of idle pairs
	maxIdle int
	// quarantine and idleAfter are reuseAfter and idleClose; tests set
	// them on a new pool.
	quarantine, idleAfter time.Duration
	closed                bool
	trim                  *time.Timer // closes pairs idle too long; armed while idle holds any
	// held is len(inUse), read without the lock: the load shedder asks
	// for every INVITE, on the SIP socket's reader, while listen holds
	// the lock across its binds.
	held atomic.Int64
}

// portPair is an RTP/RTCP socket pair and its receive buffers, which the
// readers of one session at a time use.
type portPair struct {
	port     int
	ip       netip.Addr
	rtp      *net.UDPConn
	rtcp     *net.UDPConn
	released time.Time
	rtpBuf   [1500]byte
	rtcpBuf  [1500]byte
}

// Pool aging.
const (
	reuseAfter = time.Second      // quarantine of a released pair
	idleClose  = 10 * time.Second // an idle pair is closed after this
)

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
	p := &PortPool{lo: lo, hi: hi, next: lo, inUse: map[int]bool{}, bound: map[int]bool{}, quarantine: reuseAfter, idleAfter: idleClose}
	p.maxIdle = min(p.Size()/2, 512)
	return p, nil
}

// Size is the number of RTP/RTCP pairs in the pool.
func (p *PortPool) Size() int { return (p.hi - p.lo + 1) / 2 }

// InUse is the number of pairs currently held.
func (p *PortPool) InUse() int {
	return int(p.held.Load())
}

// Close closes the idle pairs; pairs still held are closed when their
// sessions release them. The pool hands out nothing afterwards.
func (p *PortPool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	clear(p.bound)
	if p.trim != nil {
		p.trim.Stop()
	}
	p.mu.Unlock()
	for _, pp := range idle {
		pp.close()
	}
}

// listen gives a bound RTP/RTCP socket pair on ip: a released one past its
// quarantine, else a new one, else (range used up, or maxIdle pairs idle)
// the one released longest ago. Ports taken by other programs are skipped.
func (p *PortPool) listen(ip netip.Addr) (*portPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("%w: pool closed", ErrNoPorts)
	}
	now := time.Now()
	if i := p.oldestIdle(ip); i >= 0 && (now.Sub(p.idle[i].released) >= p.quarantine || len(p.idle) >= p.maxIdle) {
		return p.reuse(i), nil
	}
	n := p.Size()
	for range n {
		port := p.next
		p.next += 2
		if p.next+1 > p.hi {
			p.next = p.lo
		}
		if p.inUse[port] || p.bound[port] {
			continue
		}
		rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			continue
		}
		rtcpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
		if err != nil {
			rtpConn.Close()
			continue
		}
		udpstamp.Enable(rtcpConn) // pollRTCP reads arrival times
		p.hold(port)
		return &portPair{port: port, ip: ip, rtp: rtpConn, rtcp: rtcpConn}, nil
	}
	if i := p.oldestIdle(ip); i >= 0 {
		return p.reuse(i), nil
	}
	return nil, fmt.Errorf("%w %d-%d on %s (%d pairs)", ErrNoPorts, p.lo, p.hi, ip, n)
}

// oldestIdle is the index of the idle pair on ip released longest ago, or
// -1. Called with mu.
func (p *PortPool) oldestIdle(ip netip.Addr) int {
	for i, pp := range p.idle {
		if pp.ip == ip {
			return i
		}
	}
	return -1
}

// reuse takes idle pair i for a new session. Called with mu.
func (p *PortPool) reuse(i int) *portPair {
	pp := p.idle[i]
	if i == 0 {
		p.idle[0] = nil
		p.idle = p.idle[1:]
	} else {
		p.idle = append(p.idle[:i], p.idle[i+1:]...)
	}
	delete(p.bound, pp.port)
	p.hold(pp.port)
	// end set a deadline in the past to stop the old session's readers;
	// drain cannot read before it is lifted.
	_ = pp.rtp.SetReadDeadline(time.Time{})
	_ = pp.rtcp.SetReadDeadline(time.Time{})
	pp.drain()
	return pp
}

func (p *PortPool) hold(port int) {
	p.inUse[port] = true
	p.held.Store(int64(len(p.inUse)))
}

// release takes back a pair whose session ended and whose readers have
// returned.
func (p *PortPool) release(pp *portPair) {
	p.mu.Lock()
	delete(p.inUse, pp.port)
	p.held.Store(int64(len(p.inUse)))
	if p.closed || len(p.idle) >= 2*p.maxIdle {
		p.mu.Unlock()
		pp.close()
		return
	}
	pp.released = time.Now()
	p.idle = append(p.idle, pp)
	p.bound[pp.port] = true
	if p.trim == nil {
		p.trim = time.AfterFunc(p.idleAfter, p.closeIdle)
	} else if len(p.idle) == 1 {
		p.trim.Reset(p.idleAfter)
	}
	p.mu.Unlock()
}

// closeIdle closes the pairs idle for idleClose and comes back for the
// rest while any are left.
func (p *PortPool) closeIdle() {
	p.mu.Lock()
	now := time.Now()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].released) >= p.idleAfter {
		n++
	}
	old := append([]*portPair(nil), p.idle[:n]...)
	for _, pp := range old {
		delete(p.bound, pp.port)
	}
	// A new slice: the old one's array keeps the size a flood gave it.
	p.idle = append([]*portPair(nil), p.idle[n:]...)
	if len(p.idle) > 0 && !p.closed {
		p.trim.Reset(p.idleAfter - now.Sub(p.idle[0].released))
	}
	p.mu.Unlock()
	for _, pp := range old {
		pp.close()
	}
}

func (pp *portPair) close() {
	pp.rtp.Close()
	pp.rtcp.Close()
}

// drain discards what arrived on a pair while it was idle.
func (pp *portPair) drain() {
	drainConn(pp.rtp, pp.rtpBuf[:])
	drainConn(pp.rtcp, pp.rtcpBuf[:])
}
