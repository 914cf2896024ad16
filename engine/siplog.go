package engine

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// SIPMessage is one SIP message as it crossed the wire, for the SIP log ring
// and per-call pcap export.
type SIPMessage struct {
	Time      time.Time
	Out       bool   // sent by the gateway
	Transport string // UDP, TCP, TLS
	Local     string // host:port of the gateway's socket
	Remote    string // host:port of the peer
	CallID    string
	Domain    string
	Data      []byte
}

// SIPLog receives SIP messages in batches, off the signalling path. The
// slice is the engine's again once AppendSIP returns (the messages' Data
// stay valid): keep copies of its elements, not the slice.
type SIPLog interface {
	AppendSIP(msgs []SIPMessage) error
}

// SIPLogFunc adapts a function to SIPLog.
type SIPLogFunc func(msgs []SIPMessage) error

// AppendSIP calls f.
func (f SIPLogFunc) AppendSIP(msgs []SIPMessage) error { return f(msgs) }

// sipgo reports raw reads and writes through one process-wide tracer; it
// is dispatched here to the engine whose socket the message crossed.
var (
	tracersMu   sync.RWMutex
	tracers     = map[string]*tracer{} // local "host:port" -> tracer
	tracerCount int
	tracerOnce  sync.Once
)

type globalTracer struct{}

func (globalTracer) SIPTraceRead(transport, laddr, raddr string, msg []byte) {
	if t := tracerFor(laddr); t != nil {
		t.read(transport, laddr, raddr, msg)
	}
}

func (globalTracer) SIPTraceWrite(transport, laddr, raddr string, msg []byte) {
	if t := tracerFor(laddr); t != nil {
		t.add(true, transport, laddr, raddr, msg)
	}
}

func tracerFor(laddr string) *tracer {
	tracersMu.RLock()
	defer tracersMu.RUnlock()
	if t := tracers[laddr]; t != nil {
		return t
	}
	// Connections the engine dialled (TCP toward a trunk) have an ephemeral
	// local port; with one engine in the process they are its own.
	if tracerCount == 1 {
		for _, t := range tracers {
			return t
		}
	}
	return nil
}

func registerTracer(e *Engine) {
	tracerOnce.Do(func() {
		sip.SIPDebugTracer(globalTracer{})
		sip.SIPDebug = true
	})
	tracersMu.Lock()
	defer tracersMu.Unlock()
	tracers[e.udp.LocalAddr().String()] = e.trace
	tracers[e.tcp.Addr().String()] = e.trace
	if e.tlc != nil {
		tracers[e.tlc.Addr().String()] = e.trace
	}
	tracerCount++
}

func unregisterTracer(e *Engine) {
	tracersMu.Lock()
	defer tracersMu.Unlock()
	for k, t := range tracers {
		if t == e.trace {
			delete(tracers, k)
		}
	}
	tracerCount--
}

// tracer copies each message off the transport goroutine into a bounded
// queue; run batches the queue into the SIPLog. When the queue is full the
// message is counted as dropped rather than stalling signalling. The queue
// and the ring grow with traffic: an idle gateway holds neither (a queue
// made at its bound was a third of the idle daemon's heap).
type tracer struct {
	e       *Engine
	qMu     sync.Mutex
	q       []SIPMessage // at most traceQueue
	spare   []SIPMessage // the last batch's array, for the next queue (flushMu)
	dropped atomic.Uint64
	kick    chan struct{}
	flushMu sync.Mutex

	mu      sync.Mutex
	streams map[string][]byte // partial TCP reads by local|remote

	ringMu sync.Mutex
	ring   []SIPMessage // last messages, for Messages()
	next   int

	callMu  sync.Mutex
	domains map[string]string // Call-ID -> domain, learnt from requests
}

const (
	// ringSize bounds the engine's own ring, a look at the last messages
	// without the store (Messages); the SIP log that is kept is the
	// store's. Each message stays in it after a flood (about 650 bytes
	// with its fields, compacted): 2048 held 1.3 MB for nothing a user
	// reads.
	ringSize   = 512
	traceQueue = 8192
)

func newTracer(e *Engine) *tracer {
	return &tracer{
		e:       e,
		kick:    make(chan struct{}, 1),
		streams: map[string][]byte{},
		domains: map[string]string{},
	}
}

// read frames a TCP byte stream into messages (RFC 3261 §18.3: Content-Length
// ends the body); UDP datagrams are whole messages.
func (t *tracer) read(transport, laddr, raddr string, chunk []byte) {
	if transport == "UDP" {
		t.add(false, transport, laddr, raddr, chunk)
		return
	}
	key := laddr + "|" + raddr
	t.mu.Lock()
	buf := append(t.streams[key], chunk...)
	var msgs [][]byte
	for {
		buf = bytes.TrimLeft(buf, "\r\n")
		n := messageLen(buf)
		if n <= 0 {
			break
		}
		msgs = append(msgs, buf[:n])
		buf = buf[n:]
	}
	if len(buf) == 0 {
		delete(t.streams, key)
	} else if len(buf) > 1<<16 {
		delete(t.streams, key) // not SIP we can frame; sipgo closes such a stream too
	} else {
		if len(t.streams) >= 1024 {
			// Partial messages of connections long gone: start over rather
			// than grow (a log gap, never a stall).
			clear(t.streams)
		}
		t.streams[key] = append([]byte(nil), buf...)
	}
	t.mu.Unlock()
	for _, m := range msgs {
		t.add(false, transport, laddr, raddr, m)
	}
}

// messageLen is the length of the first complete message in b, or 0.
func messageLen(b []byte) int {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0
	}
	head := b[:end]
	cl := 0
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Content-Length")) || bytes.Equal(name, []byte("l")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(val)))
			if err != nil || n < 0 || n > 1<<16 {
				return 0 // not a length we can frame by; the caller drops the stream
			}
			cl = n
		}
	}
	n := end + 4 + cl
	if n > len(b) {
		return 0
	}
	return n
}

func (t *tracer) add(out bool, transport, laddr, raddr string, msg []byte) {
	m := SIPMessage{
		Time: time.Now(), Out: out, Transport: transport,
		Local: laddr, Remote: raddr,
		Data: append([]byte(nil), msg...),
	}
	t.qMu.Lock()
	n := len(t.q)
	for n == cap(t.q) && n < traceQueue {
		// The queue's array is full: a bigger one is made with the lock
		// released. An allocation may have this goroutine help the
		// collector, or wait for it; under the lock every goroutine that
		// sent or read SIP waited too, and at a flood's peak 200 of them
		// were queued here.
		t.qMu.Unlock()
		grown := make([]SIPMessage, 0, min(max(2*n, 64), traceQueue))
		t.qMu.Lock()
		if n = len(t.q); n == cap(t.q) && n < cap(grown) {
			t.q = append(grown, t.q...)
		}
	}
	if n < traceQueue {
		t.q = append(t.q, m)
	}
	t.qMu.Unlock()
	switch {
	case n >= traceQueue:
		t.dropped.Add(1)
	case n+1 >= 256:
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

// noteDomain remembers the tenant of a call so its messages are filed there.
func (t *tracer) noteDomain(callID, domain string) {
	t.callMu.Lock()
	if len(t.domains) > 100000 {
		clear(t.domains)
	}
	t.domains[callID] = domain
	t.callMu.Unlock()
}

func (t *tracer) forgetCall(callID string) {
	t.callMu.Lock()
	delete(t.domains, callID)
	t.callMu.Unlock()
}

func (t *tracer) run(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	quiet := 0 // ticks without a message since the ring last changed
	ticks := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if ticks++; ticks%tidyEvery == 0 {
				t.e.tidyInvites(time.Now()) // quiet.go
			}
		case <-t.kick:
		}
		if t.flush() {
			quiet = 0
		} else {
			quiet++
			t.quietFor(quiet)
		}
	}
}

// quietFor does what n quiet ticks in a row call for.
func (t *tracer) quietFor(n int) {
	switch n {
	case compactAfter:
		t.compact()
	case dropRingAfter:
		t.dropRing()
	}
}

const (
	// compactAfter is how many quiet 200 ms ticks pass before the ring is
	// compacted: 5 s without SIP.
	compactAfter = 25
	// dropRingAfter is how many pass before the ring goes: 10 s.
	dropRingAfter = 50
)

// dropRing lets go of the ring's messages: only Messages reads them, a
// look at the last ones, and after a flood they held a third of a MB that
// a quiet gateway needs for nothing (the SIP log users read is the
// sink's).
func (t *tracer) dropRing() {
	t.ringMu.Lock()
	t.ring, t.next = nil, 0
	t.ringMu.Unlock()
}

// compact copies the ring's messages into one block. Each message was
// allocated on its own while a flood went by, among the flood's garbage;
// once the flood is over they are what keeps its memory spans in use (the
// Go collector does not move objects), a few hundred bytes holding a page
// each, so memory would not return after the flood. Copied together they
// fill a few pages. Nothing changes for readers: the bytes are the same and
// the old ones stay valid for whoever still holds them.
func (t *tracer) compact() {
	// The queue's arrays keep the size a flood gave them.
	t.flushMu.Lock()
	t.spare = nil
	t.qMu.Lock()
	if len(t.q) == 0 {
		t.q = nil
	}
	t.qMu.Unlock()
	t.flushMu.Unlock()

	// The Call-ID map keeps the size a flood gave it (a Go map never
	// shrinks): copy what is left into one of its own size.
	t.callMu.Lock()
	domains := make(map[string]string, len(t.domains))
	for k, v := range t.domains {
		domains[k] = v
	}
	t.domains = domains
	t.callMu.Unlock()

	t.ringMu.Lock()
	defer t.ringMu.Unlock()
	if len(t.ring) == 0 {
		return
	}
	n := 0
	for _, m := range t.ring {
		n += len(m.Data) + len(m.CallID)
	}
	buf := make([]byte, 0, n)
	keep := func(b []byte) []byte {
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	names := map[string]string{} // addresses, transports and domains repeat
	intern := func(s string) string {
		if v, ok := names[s]; ok {
			return v
		}
		v := strings.Clone(s)
		names[v] = v
		return v
	}
	ring := make([]SIPMessage, len(t.ring), cap(t.ring))
	for i, m := range t.ring {
		m.Data = keep(m.Data)
		m.CallID = rawString(keep([]byte(m.CallID)))
		m.Transport, m.Local, m.Remote, m.Domain = intern(m.Transport), intern(m.Local), intern(m.Remote), intern(m.Domain)
		ring[i] = m
	}
	t.ring = ring
}

// FlushSIPLog hands every SIP message seen so far to the SIP log now (the
// log is otherwise written in batches every 200 ms). Call it before reading
// the log so that a reader sees the latest messages.
func (e *Engine) FlushSIPLog() {
	if e.trace != nil {
		e.trace.flush()
	}
}

// flush writes what is queued now, in order (flushMu: one writer at a time),
// and says whether there was anything.
func (t *tracer) flush() bool {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.qMu.Lock()
	batch := t.q
	// The queue takes the array of the batch before: one growing from
	// nothing for each batch was a third of what the tracer allocated.
	t.q, t.spare = t.spare, nil
	t.qMu.Unlock()
	if len(batch) == 0 {
		return false
	}
	for i := range batch {
		batch[i] = t.finish(batch[i])
	}
	t.write(batch)
	clear(batch) // the messages are the ring's and the sink's now
	t.spare = batch[:0]
	return true
}

func (t *tracer) finish(m SIPMessage) SIPMessage {
	m.CallID = headerValue(m.Data, "Call-ID", "i")
	t.callMu.Lock()
	m.Domain = t.domains[m.CallID]
	t.callMu.Unlock()
	if m.Domain == "" {
		m.Domain = t.e.cfg.Domain
	}
	return m
}

func (t *tracer) write(batch []SIPMessage) {
	t.ringMu.Lock()
	for _, m := range batch {
		if len(t.ring) < ringSize {
			t.ring = append(t.ring, m)
		} else {
			t.ring[t.next] = m
		}
		t.next = (t.next + 1) % ringSize
	}
	t.ringMu.Unlock()
	if t.e.sink == nil {
		return
	}
	if err := t.e.sink.AppendSIP(batch); err != nil {
		t.e.log.Warn("SIP log append failed", "n", len(batch), "err", err)
	}
}

// Messages returns the SIP messages of a call (all calls when callID is "")
// still held in the engine's own ring, oldest first: the last ringSize,
// none once no SIP has crossed for 10 s (dropRingAfter).
func (e *Engine) Messages(callID string) []SIPMessage {
	t := e.trace
	if t == nil {
		return nil
	}
	t.flush()
	t.ringMu.Lock()
	defer t.ringMu.Unlock()
	var out []SIPMessage
	n := len(t.ring)
	start := 0
	if n == ringSize {
		start = t.next
	}
	for i := 0; i < n; i++ {
		m := t.ring[(start+i)%n]
		if callID == "" || m.CallID == callID {
			out = append(out, m)
		}
	}
	return out
}

// headerValue finds a header's value in a raw message without parsing all
// of it (compact form name too, RFC 3261 §7.3.3).
func headerValue(msg []byte, name, compact string) string {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(msg)
	}
	head := msg[:end]
	// Line by line without splitting: this runs for every message logged.
	for len(head) > 0 {
		line := head
		if i := bytes.Index(head, []byte("\r\n")); i >= 0 {
			line, head = head[:i], head[i+2:]
		} else {
			head = nil
		}
		n, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		n = bytes.TrimSpace(n)
		if bytes.EqualFold(n, []byte(name)) || (compact != "" && bytes.EqualFold(n, []byte(compact))) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}
