package dc09

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// Verdict is how a Receiver answers a message.
type Verdict int

const (
	VerdictAck     Verdict = iota // ACK: accepted
	VerdictNak                    // NAK with the receiver's clock
	VerdictDuh                    // DUH: cannot process
	VerdictSilence                // no answer at all (a receiver that lost it)
)

// Receiver is a small DC-09 receiver, the alarm receiving centre's side:
// it listens on TCP and UDP, checks each frame (CRC, length, decryption,
// timestamp window) and answers ACK, NAK or DUH. Tests use it as the ARC,
// and it is an example of what an ARC expects.
type Receiver struct {
	// Key returns the AES key of an account; nil for accounts sending plain text.
	Key func(account string) []byte
	// Handle sees every valid message, NULL included, and decides the answer.
	// nil acknowledges everything.
	Handle func(m Message, from net.Addr) Verdict
	// Past and Future bound the accepted timestamp: default 40 s and 20 s.
	Past, Future time.Duration
	// Now is the receiver's clock; nil is time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Loose makes the replies deviate the way receivers ARCs run do (the
	// test double of a real receiver, beside the strict default): the word
	// None where the R field would be when the message carried none, the
	// CRC, length and encrypted content in lower-case hex, and no timestamp
	// on plain ACKs. A sender must take these replies as answers.
	Loose bool

	mu     sync.Mutex
	closed bool
	lns    []net.Listener
	pcs    []net.PacketConn
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func (r *Receiver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Receiver) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Answer checks one frame and returns the reply frame to send (nil: none).
func (r *Receiver) Answer(frame []byte, from net.Addr) []byte {
	now := r.now()
	m, err := Parse(frame, r.Key)
	var reply Message
	switch {
	case errors.Is(err, ErrNoKey), errors.Is(err, ErrDecrypt):
		// Known frame, but we cannot read it: it will not get better by resending.
		reply = Duh(m)
	case err != nil:
		// Damaged frame (CRC, length, format): a NAK makes the sender resend.
		r.log().Debug("dc09 receiver: bad frame", "from", from, "err", err)
		reply = Nak(now)
	case m.Encrypted && m.Time.IsZero():
		reply = Nak(now) // §5.4.9: encrypted messages must be stamped
	case !m.Time.IsZero() && !InWindow(m.Time, now, def(r.Past, WindowPast), def(r.Future, WindowFuture)):
		reply = Nak(now)
	case m.ID != IDSIADCS && m.ID != IDADMCID && m.ID != IDNull:
		reply = Duh(m)
	default:
		v := VerdictAck
		if r.Handle != nil {
			v = r.Handle(m, from)
		}
		switch v {
		case VerdictSilence:
			return nil
		case VerdictNak:
			reply = Nak(now)
		case VerdictDuh:
			reply = Duh(m)
		default:
			reply = Ack(m, now)
		}
	}
	var key []byte
	if reply.Encrypted && r.Key != nil {
		key = r.Key(reply.Account)
	}
	if reply.Encrypted && len(key) == 0 {
		reply.Encrypted, reply.Time = false, time.Time{}
	}
	if r.Loose && !reply.Encrypted && reply.ID != IDNak {
		reply.Time = time.Time{}
	}
	out, err := Encode(nil, reply, key)
	if err != nil {
		r.log().Warn("dc09 receiver: cannot encode reply", "err", err)
		return nil
	}
	if r.Loose && reply.ID != IDNak {
		out = loosen(out, reply.Receiver == "")
	}
	return out
}

// loosen rewrites a reply frame as one widely used open-source receiver
// writes it: `"ACK"0001NoneL0#4321[]` for a message without R, hex in lower
// case, with a CRC and length that match the rewritten content.
func loosen(frame []byte, noReceiver bool) []byte {
	body := string(frame[9 : len(frame)-1])
	q := strings.IndexByte(body[1:], '"') + 2 // after the closing quote
	head, rest := body[:q+4], body[q+4:]
	if noReceiver {
		head += "None"
	}
	if i := strings.IndexByte(rest, '['); i >= 0 && strings.HasPrefix(body, "\"*") {
		rest = rest[:i+1] + strings.ToLower(rest[i+1:])
	}
	body = head + rest
	out := fmt.Appendf(nil, "\n%04x0%03x", CRC([]byte(body)), len(body))
	out = append(out, body...)
	return append(out, '\r')
}

func def(d, v time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return v
}

// ServeTCP accepts connections on ln until Close; each connection carries
// frames one after another (LF ... CR).
func (r *Receiver) ServeTCP(ln net.Listener) error {
	if !r.track(ln, nil) {
		ln.Close()
		return net.ErrClosed
	}
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return net.ErrClosed
		}
		if r.conns == nil {
			r.conns = map[net.Conn]struct{}{}
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.serveConn(c)
	}
}

func (r *Receiver) serveConn(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.Close()
	}()
	rd := bufio.NewReaderSize(c, 4096)
	for {
		line, err := rd.ReadSlice('\r')
		if err != nil {
			return
		}
		if out := r.Answer(trimToLF(line), c.RemoteAddr()); out != nil {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}

// ServeUDP answers datagrams on pc until Close; one frame per datagram.
func (r *Receiver) ServeUDP(pc net.PacketConn) error {
	if !r.track(nil, pc) {
		pc.Close()
		return net.ErrClosed
	}
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		if out := r.Answer(buf[:n], from); out != nil {
			pc.WriteTo(out, from)
		}
	}
}

func (r *Receiver) track(ln net.Listener, pc net.PacketConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if ln != nil {
		r.lns = append(r.lns, ln)
	}
	if pc != nil {
		r.pcs = append(r.pcs, pc)
	}
	r.wg.Add(1)
	return true
}

// Listen starts serving TCP and UDP on addr (port 0 picks a free port, the
// same one for both) and returns the bound address.
func (r *Receiver) Listen(addr string) (string, error) {
	_, port, _ := net.SplitHostPort(addr)
	var ln net.Listener
	var pc net.PacketConn
	for try := 0; ; try++ {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return "", err
		}
		if pc, err = net.ListenPacket("udp", ln.Addr().String()); err == nil {
			break
		}
		ln.Close()
		// Port 0: the port TCP got may be someone's UDP port; take another.
		if port != "0" || try == 19 {
			return "", err
		}
	}
	go r.ServeTCP(ln)
	go r.ServeUDP(pc)
	return ln.Addr().String(), nil
}

// Close stops every listener and connection and waits for their goroutines.
func (r *Receiver) Close() error {
	r.mu.Lock()
	r.closed = true
	for _, ln := range r.lns {
		ln.Close()
	}
	for _, pc := range r.pcs {
		pc.Close()
	}
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}
