package engine

import (
	"net"
	"testing"
	"time"
)

// The socket's writes do not wait for the runtime's write lock: with that
// lock held, a datagram still leaves, from the socket's own address, on
// an IPv4 socket and a dual-stack one alike. Once the socket is closed and
// its reader has seen it, the duplicate goes too and the port is free.
func TestShedConnWritesPastTheRuntimeLock(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::]:0"} {
		t.Run(listen, func(t *testing.T) {
			pc, err := net.ListenPacket("udp", listen)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			peer, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			e := &Engine{}
			e.shed.defaults()
			c := newShedConn(e, pc)
			if c.raw == nil {
				t.Fatal("no raw writer on Linux")
			}
			rc, err := pc.(*net.UDPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			held, release := make(chan struct{}), make(chan struct{})
			go func() {
				_ = rc.Write(func(uintptr) bool { close(held); <-release; return true })
			}()
			<-held
			sent := make(chan error, 1)
			go func() {
				_, err := c.WriteTo([]byte("OPTIONS past the lock"), peer.LocalAddr())
				sent <- err
			}()
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 100)
			n, from, err := peer.ReadFrom(buf)
			close(release)
			if err != nil || string(buf[:n]) != "OPTIONS past the lock" {
				t.Fatalf("nothing came while the runtime's write lock was held: %v %q", err, buf[:n])
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if got, want := from.(*net.UDPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port; got != want {
				t.Errorf("sent from port %d, want the socket's %d", got, want)
			}

			addr := pc.LocalAddr().String()
			pc.Close()
			if _, _, err := c.ReadFrom(buf); err == nil {
				t.Fatal("read a closed socket")
			}
			again, err := net.ListenPacket("udp", addr)
			if err != nil {
				t.Fatalf("the port is still held once the socket is closed: %v", err)
			}
			again.Close()
		})
	}
}
