package console

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogRing is a slog.Handler that keeps the last records in memory for
// `log tail`, and passes every record on to next (may be nil). Install it
// as the daemon's handler: slog.New(console.NewLogRing(1000, textHandler)).
type LogRing struct {
	next  slog.Handler
	attrs []slog.Attr
	group string
	core  *ringCore
}

type ringCore struct {
	mu   sync.Mutex
	buf  []LogLine // grows to size, then wraps
	size int
	head int // next write position (len(buf) until it wraps)
	subs map[chan LogLine]slog.Level
}

// LogLine is one formatted record.
type LogLine struct {
	Time  time.Time
	Level slog.Level
	Text  string // message and attributes, key=value
}

func (l LogLine) String() string {
	return l.Time.UTC().Format("15:04:05.000") + " " + fmt.Sprintf("%-5s", l.Level.String()) + " " + l.Text
}

// NewLogRing keeps size records.
func NewLogRing(size int, next slog.Handler) *LogRing {
	if size < 1 {
		size = 1
	}
	// The ring grows to size as lines come: an idle daemon logs little.
	return &LogRing{next: next, core: &ringCore{size: size, subs: map[chan LogLine]slog.Level{}}}
}

func (h *LogRing) Enabled(ctx context.Context, l slog.Level) bool {
	// The ring keeps debug records too: a technician tailing at debug level
	// must see them even when the console log is at info.
	return true
}

func (h *LogRing) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		b.WriteByte(' ')
		if h.group != "" {
			b.WriteString(h.group + ".")
		}
		b.WriteString(a.Key)
		b.WriteByte('=')
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \"=") {
			v = fmt.Sprintf("%q", v)
		}
		b.WriteString(v)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	h.core.add(LogLine{Time: r.Time, Level: r.Level, Text: b.String()})
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *LogRing) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	if h.next != nil {
		c.next = h.next.WithAttrs(as)
	}
	return &c
}

func (h *LogRing) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		c.group += "." + name
	} else {
		c.group = name
	}
	if h.next != nil {
		c.next = h.next.WithGroup(name)
	}
	return &c
}

func (c *ringCore) add(l LogLine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) < c.size {
		c.buf = append(c.buf, l)
	} else {
		c.buf[c.head] = l
	}
	c.head = (c.head + 1) % c.size
	for ch, min := range c.subs {
		if l.Level >= min {
			select {
			case ch <- l:
			default: // a slow console must not stall logging
			}
		}
	}
}

// Tail returns up to n most recent records at level or above, oldest first.
func (h *LogRing) Tail(level slog.Level, n int) []LogLine {
	c := h.core
	c.mu.Lock()
	defer c.mu.Unlock()
	// Until the ring wraps, head is len(buf) and buf[head:] is empty.
	all := append([]LogLine(nil), c.buf[c.head:]...)
	all = append(all, c.buf[:c.head]...)
	var out []LogLine
	for _, l := range all {
		if l.Level >= level {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Compact copies the texts of the lines kept into one block. Each was made
// on its own when logged, among the garbage of whatever the daemon was
// doing; after a flood of calls (a line per refused call) the lines kept
// are what holds the flood's memory spans in use (the collector does not
// move objects), a few hundred bytes holding a page each. Copied together
// they fill a few pages, and the spans can go back to the kernel. Readers
// see the same lines. The daemon calls it before it returns memory.
func (h *LogRing) Compact() {
	c := h.core
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.buf {
		n += len(l.Text)
	}
	var b strings.Builder
	b.Grow(n)
	for _, l := range c.buf {
		b.WriteString(l.Text)
	}
	block := b.String()
	for i := range c.buf {
		c.buf[i].Text, block = block[:len(c.buf[i].Text)], block[len(c.buf[i].Text):]
	}
}

// Follow delivers new records at level or above until cancel is called.
func (h *LogRing) Follow(level slog.Level) (<-chan LogLine, func()) {
	ch := make(chan LogLine, 64)
	c := h.core
	c.mu.Lock()
	c.subs[ch] = level
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		delete(c.subs, ch)
		c.mu.Unlock()
	}
}

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}
