package udpstamp

import (
	"net"
	"testing"
	"time"
)

func TestArrivalIsWhenTheDatagramCame(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !Enable(c) {
		if Supported {
			t.Fatal("Enable said no where stamps are supported")
		}
		return
	}
	before := time.Now()
	if _, err := c.WriteToUDP([]byte("x"), c.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	// Read it a while after it came, so that a stamp taken at the read
	// (not at the arrival) would fail.
	time.Sleep(50 * time.Millisecond)
	read := time.Now()
	b, oob := make([]byte, 16), make([]byte, Space)
	_, oobn, _, _, err := c.ReadMsgUDPAddrPort(b, oob)
	if err != nil {
		t.Fatal(err)
	}
	at, ok := Arrival(oob[:oobn])
	if !ok {
		t.Fatalf("no arrival stamp in %d bytes of control messages", oobn)
	}
	if at.Before(before.Add(-time.Millisecond)) || !at.Before(read) {
		t.Fatalf("arrival %v not between the send %v and the read %v", at, before, read)
	}
}

func TestArrivalWithoutStamp(t *testing.T) {
	for _, oob := range [][]byte{nil, {1, 2, 3}, make([]byte, 64)} {
		if _, ok := Arrival(oob); ok {
			t.Fatalf("a stamp found in %v", oob)
		}
	}
}

// FuzzArrival: control messages of any shape are read without a panic.
func FuzzArrival(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, oob []byte) { Arrival(oob) })
}
