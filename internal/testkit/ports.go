package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Ports for fixed ranges (an RTP port pool) are taken below the kernel's
// ephemeral range (32768-60999 on Linux), so that no socket another test
// bound to port 0 can sit in them, in slots of slotSize ports.
const (
	portFloor = 20000
	portCeil  = 32768
	slotSize  = 10
)

// PortRange reserves n consecutive loopback ports, free for UDP and TCP
// when checked, until the test ends. The reservation holds across test
// processes too (a lock file per slot in the temporary folder, released
// when the test ends or its process dies), so packages tested in parallel,
// or by several people on one machine, do not meet.
func PortRange(t testing.TB, n int) (lo, hi int) {
	t.Helper()
	slots := (n + slotSize - 1) / slotSize
	dir := filepath.Join(os.TempDir(), "edgebridge-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	first, last := portFloor/slotSize, portCeil/slotSize-slots
	for range 200 {
		s := first + rand.IntN(last-first)
		locks, ok := lockSlots(dir, s, slots)
		if !ok {
			continue
		}
		lo = s * slotSize
		if !portsFree(lo, lo+n-1) {
			unlock(locks)
			continue
		}
		t.Cleanup(func() { unlock(locks) })
		return lo, lo + n - 1
	}
	t.Fatalf("testkit: no %d free ports in %d-%d", n, portFloor, portCeil-1)
	return 0, 0
}

// FreeUDP is a loopback UDP port free a moment ago, for a peer that binds
// one port itself (SIPp, a test server).
func FreeUDP(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func lockSlots(dir string, first, n int) ([]*os.File, bool) {
	var locks []*os.File
	for s := first; s < first+n; s++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(s*slotSize)), os.O_CREATE|os.O_RDWR, 0o666)
		if err == nil && syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			locks = append(locks, f)
			continue
		}
		if f != nil {
			f.Close()
		}
		unlock(locks)
		return nil, false
	}
	return locks, true
}

func unlock(locks []*os.File) {
	for _, f := range locks {
		f.Close() // closing the file drops its lock
	}
}

func portsFree(lo, hi int) bool {
	for p := lo; p <= hi; p++ {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		u.Close()
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// PortRangeArg is PortRange as the daemon's --rtp-ports value, "lo-hi".
func PortRangeArg(t testing.TB, n int) string {
	t.Helper()
	lo, hi := PortRange(t, n)
	return strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
}
