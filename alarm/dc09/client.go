package dc09

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ErrDUH is returned when the receiver answered DUH: it will never accept
// this message, so resending it is pointless (§5.5.3).
var ErrDUH = errors.New("dc09: receiver answered DUH")

// ErrNAK is returned when the receiver kept answering NAK after the client
// resent with a corrected timestamp.
var ErrNAK = errors.New("dc09: receiver answered NAK")

// Client sends DC-09 messages to one receiver over TCP (one connection, kept
// open and redialled when it breaks) or UDP (one datagram per try). Its
// methods are safe for concurrent use; messages go out one at a time, as the
// protocol waits for each reply.
type Client struct {
	Network  string        // "tcp" or "udp"
	Addr     string        // host:port of the receiver
	Account  string        // hex account
	Receiver string        // receiver number, "" for none
	Line     string        // line (account prefix), "" for none
	Key      []byte        // AES key (16, 24 or 32 bytes), nil for plain text
	Timeout  time.Duration // wait for a reply per try; default 5 s
	Tries    int           // tries per message on UDP (the same frame, resent); default 3
	// Stamp adds a timestamp to plain-text messages too (encrypted ones always carry one).
	Stamp bool
	// Now is the clock; nil is time.Now. NAKs carry the receiver's clock and
	// adjust an offset kept on top of it.
	Now func() time.Time
	// Log gets one line per kind of oddity in the receiver's replies (see
	// ParseReply); nil is slog.Default().
	Log *slog.Logger

	mu     sync.Mutex
	seq    int
	offset time.Duration
	conn   net.Conn
	rd     *bufio.Reader
	odd    map[string]bool // oddities already logged
}

// Reply is what the receiver answered to one message.
type Reply struct {
	Message Message
	RTT     time.Duration
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now().Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

// Send sends one event (id is IDADMCID or IDSIADCS, data as in Message.Data)
// and waits for its acknowledgement. A NAK makes it resend once with a fresh
// timestamp taken from the receiver's clock; a DUH returns ErrDUH.
func (c *Client) Send(ctx context.Context, id, data string, ext []string) (Reply, error) {
	return c.SendAs(ctx, c.Account, id, data, ext)
}

// SendAs is Send under another account than the client's (a gateway
// forwards events of many panels over one connection).
func (c *Client) SendAs(ctx context.Context, account, id, data string, ext []string) (Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq = NextSeq(c.seq)
	return c.exchange(ctx, Message{ID: id, Seq: c.seq, Receiver: c.Receiver, Line: c.Line, Account: account, Data: data, Ext: ext})
}

// SendSeq is SendAs with the sequence number chosen by the caller (1..9999):
// a caller that retries one event later, or after a restart, passes the
// number the event went out with first, so that the receiver recognises
// the repeat (§5.4.3) instead of holding the event twice.
func (c *Client) SendSeq(ctx context.Context, seq int, account, id, data string, ext []string) (Reply, error) {
	if seq < 1 || seq > MaxSeq {
		return Reply{}, fmt.Errorf("%w: sequence %d outside 1..%d", ErrFormat, seq, MaxSeq)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchange(ctx, Message{ID: id, Seq: seq, Receiver: c.Receiver, Line: c.Line, Account: account, Data: data, Ext: ext})
}

// Null sends a link test (NULL message) and waits for its ACK (§5.4.2, supervision).
func (c *Client) Null(ctx context.Context) (Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq = NextSeq(c.seq)
	return c.exchange(ctx, Message{ID: IDNull, Seq: c.seq, Receiver: c.Receiver, Line: c.Line, Account: c.Account})
}

// NullSeq is Null with the sequence number chosen by the caller (see SendSeq).
func (c *Client) NullSeq(ctx context.Context, seq int) (Reply, error) {
	if seq < 1 || seq > MaxSeq {
		return Reply{}, fmt.Errorf("%w: sequence %d outside 1..%d", ErrFormat, seq, MaxSeq)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchange(ctx, Message{ID: IDNull, Seq: seq, Receiver: c.Receiver, Line: c.Line, Account: c.Account})
}

// Supervise sends a NULL every interval until ctx ends and calls report with
// each result (nil: the path is up).
func (c *Client) Supervise(ctx context.Context, every time.Duration, report func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, err := c.Null(ctx)
		if ctx.Err() != nil {
			return
		}
		report(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Client) exchange(ctx context.Context, m Message) (Reply, error) {
	m.Encrypted = len(c.Key) > 0
	const nakRetries = 2
	for nak := 0; ; nak++ {
		if m.Encrypted || c.Stamp {
			m.Time = c.now()
		}
		frame, err := Encode(nil, m, c.Key)
		if err != nil {
			return Reply{}, err
		}
		start := time.Now()
		r, err := c.roundTrip(ctx, frame, m)
		if err != nil {
			return Reply{}, err
		}
		rep := Reply{Message: r, RTT: time.Since(start)}
		switch r.ID {
		case IDAck:
			if m.Encrypted && !r.Encrypted {
				c.noteOdd(OddPlainAck)
			}
			return rep, nil
		case IDDuh:
			return rep, fmt.Errorf("%w (sequence %04d)", ErrDUH, m.Seq)
		case IDNak:
			if !r.Time.IsZero() {
				// §5.5.2: the NAK's timestamp is the receiver's clock.
				base := time.Now()
				if c.Now != nil {
					base = c.Now()
				}
				c.offset = r.Time.Sub(base)
			}
			if nak >= nakRetries {
				return rep, fmt.Errorf("%w %d times (sequence %04d)", ErrNAK, nak+1, m.Seq)
			}
		default:
			return rep, fmt.Errorf("%w: reply %q is not ACK, NAK or DUH", ErrFormat, r.ID)
		}
	}
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Second
}

func (c *Client) key(string) []byte { return c.Key }

// noteOdd logs a kind of oddity in the receiver's replies the first time
// this client sees it: the receiver will do it on every reply.
func (c *Client) noteOdd(kinds ...string) {
	for _, k := range kinds {
		if c.odd[k] {
			continue
		}
		if c.odd == nil {
			c.odd = map[string]bool{}
		}
		c.odd[k] = true
		log := c.Log
		if log == nil {
			log = slog.Default()
		}
		log.Info("dc09: receiver reply deviates from SIA DC-09; accepted (logged once)", "receiver", c.Addr, "oddity", k)
	}
}

// reply reads one reply frame and says whether it answers m; stray replies
// to older messages are skipped (ok false, err nil).
func (c *Client) reply(frame []byte, m Message) (r Message, ok bool, err error) {
	r, odd, err := ParseReply(frame, c.key)
	if err != nil {
		return r, false, err
	}
	c.noteOdd(odd...)
	switch err := answers(r, m); {
	case errors.Is(err, errStray):
		return r, false, nil
	case err != nil:
		return r, false, err
	}
	return r, true, nil
}

// roundTrip sends frame (message m) and reads the reply that answers it
// (see answers); stray replies to older messages are skipped.
func (c *Client) roundTrip(ctx context.Context, frame []byte, m Message) (Message, error) {
	switch c.Network {
	case "udp":
		return c.roundTripUDP(ctx, frame, m)
	case "tcp", "":
		reused := c.conn != nil
		r, err := c.roundTripTCP(ctx, frame, m)
		if err != nil {
			c.closeConn()
			var ne net.Error
			if reused && ctx.Err() == nil && !(errors.As(err, &ne) && ne.Timeout()) {
				// Many receivers close an idle connection (or after each
				// message): redial once at once instead of failing the event.
				r, err = c.roundTripTCP(ctx, frame, m)
				if err != nil {
					c.closeConn()
				}
			}
		}
		return r, err
	}
	return Message{}, fmt.Errorf("dc09: network %q: want tcp or udp", c.Network)
}

func (c *Client) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(c.timeout())
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

func (c *Client) roundTripTCP(ctx context.Context, frame []byte, m Message) (Message, error) {
	if c.conn == nil {
		var d net.Dialer
		dctx, cancel := context.WithDeadline(ctx, c.deadline(ctx))
		conn, err := d.DialContext(dctx, "tcp", c.Addr)
		cancel()
		if err != nil {
			return Message{}, fmt.Errorf("dc09: dial tcp %s: %w", c.Addr, err)
		}
		c.conn, c.rd = conn, bufio.NewReaderSize(conn, 1024)
	}
	conn := c.conn // the AfterFunc may run after closeConn cleared c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c.conn.SetDeadline(c.deadline(ctx))
	if _, err := c.conn.Write(frame); err != nil {
		return Message{}, fmt.Errorf("dc09: send to %s: %w", c.Addr, err)
	}
	for {
		line, err := c.rd.ReadSlice('\r')
		if err != nil {
			if ctx.Err() != nil {
				return Message{}, ctx.Err()
			}
			return Message{}, fmt.Errorf("dc09: reply from %s: %w", c.Addr, err)
		}
		r, ok, err := c.reply(line, m)
		if err != nil {
			return Message{}, fmt.Errorf("dc09: reply from %s: %w", c.Addr, err)
		}
		if ok {
			return r, nil
		}
	}
}

func (c *Client) roundTripUDP(ctx context.Context, frame []byte, m Message) (Message, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", c.Addr)
	if err != nil {
		return Message{}, fmt.Errorf("dc09: dial udp %s: %w", c.Addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	tries := c.Tries
	if tries <= 0 {
		tries = 3
	}
	per := c.timeout() / time.Duration(tries)
	buf := make([]byte, 2048)
	var lastErr error
	for try := 0; try < tries; try++ {
		if _, err := conn.Write(frame); err != nil {
			lastErr = err
			continue
		}
		conn.SetReadDeadline(time.Now().Add(per))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				lastErr = err
				break
			}
			r, ok, err := c.reply(buf[:n], m)
			if err != nil {
				lastErr = err
				continue
			}
			if ok {
				return r, nil
			}
		}
		if ctx.Err() != nil {
			return Message{}, ctx.Err()
		}
	}
	return Message{}, fmt.Errorf("dc09: no reply from udp %s after %d tries: %w", c.Addr, tries, lastErr)
}

// trimToLF drops anything before the frame's LF (line noise between frames).
func trimToLF(b []byte) []byte {
	for i, c := range b {
		if c == '\n' {
			return b[i:]
		}
	}
	return b
}

func (c *Client) closeConn() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.rd = nil, nil
	}
}

// Close closes the TCP connection, if any.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeConn()
	return nil
}
