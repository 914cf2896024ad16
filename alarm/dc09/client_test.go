package dc09

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

type msgLog struct {
	mu   sync.Mutex
	msgs []Message
}

func (l *msgLog) add(m Message) {
	l.mu.Lock()
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
}

func (l *msgLog) all() []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Message(nil), l.msgs...)
}

func startReceiver(t *testing.T, r *Receiver) string {
	t.Helper()
	addr, err := r.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return addr
}

func TestClientAckTCPAndUDP(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, network := range []string{"tcp", "udp"} {
		for _, k := range [][]byte{nil, key} {
			var got msgLog
			r := &Receiver{
				Key:    func(a string) []byte { return k },
				Handle: func(m Message, _ net.Addr) Verdict { got.add(m); return VerdictAck },
			}
			addr := startReceiver(t, r)
			c := &Client{Network: network, Addr: addr, Account: "1234", Receiver: "1", Line: "0", Key: k, Timeout: 2 * time.Second}
			data, _ := ADMCIDData("1234", "1", "130", "01", "015")
			for i := 0; i < 3; i++ {
				rep, err := c.Send(context.Background(), IDADMCID, data, nil)
				if err != nil {
					t.Fatalf("%s key=%v send %d: %v", network, k != nil, i, err)
				}
				if rep.Message.ID != IDAck || rep.Message.Seq != i+1 || rep.Message.Encrypted != (k != nil) {
					t.Errorf("%s: reply %+v", network, rep.Message)
				}
			}
			if _, err := c.Null(context.Background()); err != nil {
				t.Fatalf("%s NULL: %v", network, err)
			}
			c.Close()
			msgs := got.all()
			if len(msgs) != 4 || msgs[0].Data != data || msgs[3].ID != IDNull || msgs[2].Seq != 3 {
				t.Errorf("%s key=%v: receiver saw %+v", network, k != nil, msgs)
			}
			if k != nil && msgs[0].Time.IsZero() {
				t.Errorf("encrypted message without timestamp")
			}
		}
	}
}

func TestClientNakResendsWithReceiverClock(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		// The client's clock is 5 minutes slow; the receiver NAKs the
		// stale timestamp, the client takes the receiver's clock from the NAK.
		recvNow := time.Now()
		var got msgLog
		r := &Receiver{Key: func(string) []byte { return make([]byte, 16) }, Handle: func(m Message, _ net.Addr) Verdict { got.add(m); return VerdictAck }}
		addr := startReceiver(t, r)
		c := &Client{Network: network, Addr: addr, Account: "1234", Line: "0", Key: make([]byte, 16),
			Now: func() time.Time { return time.Now().Add(-5 * time.Minute) }}
		rep, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 015", nil)
		if err != nil {
			t.Fatalf("%s: %v", network, err)
		}
		if rep.Message.ID != IDAck {
			t.Errorf("%s: reply %s", network, rep.Message.ID)
		}
		msgs := got.all()
		if len(msgs) != 1 || msgs[0].Time.Sub(recvNow).Abs() > 5*time.Second {
			t.Errorf("%s: accepted %+v, want one message stamped with the receiver's time", network, msgs)
		}
		c.Close()
	}
}

func TestClientDuhAndNakAndSilence(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		var mu sync.Mutex
		verdict := VerdictDuh
		r := &Receiver{Handle: func(Message, net.Addr) Verdict { mu.Lock(); defer mu.Unlock(); return verdict }}
		addr := startReceiver(t, r)
		c := &Client{Network: network, Addr: addr, Account: "1234", Line: "0", Timeout: 300 * time.Millisecond}
		if _, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 015", nil); !errors.Is(err, ErrDUH) {
			t.Errorf("%s: DUH gave err %v", network, err)
		}
		mu.Lock()
		verdict = VerdictNak
		mu.Unlock()
		if _, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 015", nil); !errors.Is(err, ErrNAK) {
			t.Errorf("%s: endless NAK gave err %v", network, err)
		}
		mu.Lock()
		verdict = VerdictSilence
		mu.Unlock()
		start := time.Now()
		if _, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 015", nil); err == nil {
			t.Errorf("%s: silence gave no error", network)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: silence took %v, timeout is 300ms", network, d)
		}
		c.Close()
	}
}

func TestReceiverNaksOutsideWindow(t *testing.T) {
	r := &Receiver{Key: func(string) []byte { return make([]byte, 32) }}
	now := time.Now()
	for _, c := range []struct {
		off  time.Duration
		want string
	}{{-39 * time.Second, IDAck}, {-60 * time.Second, IDNak}, {19 * time.Second, IDAck}, {30 * time.Second, IDNak}} {
		f, _ := Encode(nil, Message{ID: IDSIADCS, Encrypted: true, Seq: 5, Line: "0", Account: "1234", Data: "#1234|Nri1/BA015", Time: now.Add(c.off)}, make([]byte, 32))
		out := r.Answer(f, nil)
		m, err := Parse(out, r.Key)
		if err != nil || m.ID != c.want {
			t.Errorf("stamp now%+v: reply %+v %v, want %s", c.off, m, err, c.want)
		}
	}
	// An encrypted message without timestamp is NAKed; an unknown id gets DUH.
	f, _ := Encode(nil, Message{ID: IDSIADCS, Encrypted: true, Seq: 5, Line: "0", Account: "1234", Data: "x"}, make([]byte, 32))
	if m, _ := Parse(r.Answer(f, nil), nil); m.ID != IDNak {
		t.Errorf("unstamped encrypted: %s, want NAK", m.ID)
	}
	f, _ = Encode(nil, Message{ID: "XYZ-ABC", Seq: 5, Line: "0", Account: "1234"}, nil)
	if m, _ := Parse(r.Answer(f, nil), nil); m.ID != IDDuh || m.Seq != 5 {
		t.Errorf("unknown id: %+v, want DUH 0005", m)
	}
}

func TestClientSequenceWrapsAndUDPResends(t *testing.T) {
	var mu sync.Mutex
	var seqs []int
	n := 0
	r := &Receiver{Handle: func(m Message, _ net.Addr) Verdict {
		mu.Lock()
		defer mu.Unlock()
		n++
		seqs = append(seqs, m.Seq)
		if n == 2 {
			return VerdictSilence // the reply to the 2nd datagram is lost: the client resends it
		}
		return VerdictAck
	}}
	addr := startReceiver(t, r)
	c := &Client{Network: "udp", Addr: addr, Account: "1234", Line: "0", Timeout: 900 * time.Millisecond, Tries: 3}
	c.seq = MaxSeq - 1
	for i := 0; i < 2; i++ {
		if _, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 015", nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// 9999, then 0001 (§5.4.3: after 9999 comes 0001), the second sent twice with the same number.
	if len(seqs) != 3 || seqs[0] != 9999 || seqs[1] != 1 || seqs[2] != 1 {
		t.Errorf("receiver saw sequences %v, want [9999 1 1]", seqs)
	}
}

func TestClientSupervise(t *testing.T) {
	var got msgLog
	r := &Receiver{Handle: func(m Message, _ net.Addr) Verdict { got.add(m); return VerdictAck }}
	addr := startReceiver(t, r)
	c := &Client{Network: "tcp", Addr: addr, Account: "1234", Line: "0", Timeout: 300 * time.Millisecond}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan error, 100)
	done := make(chan struct{})
	go func() { c.Supervise(ctx, 20*time.Millisecond, func(err error) { results <- err }); close(done) }()
	for i := 0; i < 3; i++ {
		if err := <-results; err != nil {
			t.Fatalf("NULL %d: %v", i, err)
		}
	}
	r.Close() // the receiver goes away: supervision reports it
	deadline := time.After(5 * time.Second)
	for failed := false; !failed; {
		select {
		case err := <-results:
			failed = err != nil
		case <-deadline:
			t.Fatal("supervision did not report the receiver gone")
		}
	}
	cancel()
	<-done
	for _, m := range got.all() {
		if m.ID != IDNull || m.Account != "1234" {
			t.Errorf("supervision sent %+v", m)
		}
	}
}

func TestClientRedialsWhenReceiverClosedTheConnection(t *testing.T) {
	var got msgLog
	r := &Receiver{Handle: func(m Message, _ net.Addr) Verdict { got.add(m); return VerdictAck }}
	addr := startReceiver(t, r)
	c := &Client{Network: "tcp", Addr: addr, Account: "1234", Line: "0", Timeout: time.Second}
	defer c.Close()
	if _, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 001", nil); err != nil {
		t.Fatal(err)
	}
	// The receiver drops every connection (as ARCs do with idle ones).
	r.mu.Lock()
	for conn := range r.conns {
		conn.Close()
	}
	r.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Send(context.Background(), IDADMCID, "#1234|1130 01 002", nil); err != nil {
		t.Fatalf("send over a connection the receiver closed: %v", err)
	}
	if n := len(got.all()); n != 2 {
		t.Errorf("receiver got %d messages, want 2", n)
	}
}
