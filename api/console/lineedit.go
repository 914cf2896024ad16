package console

import (
	"strconv"
	"strings"
)

// key is one keypress decoded from the terminal's bytes.
type key struct {
	r    rune // printable character, or 0
	code int  // one of the k* codes when r == 0
}

const (
	kNone = iota
	kEnter
	kBackspace
	kDelete
	kLeft
	kRight
	kUp
	kDown
	kHome
	kEnd
	kKillLine // ctrl-u
	kKillWord // ctrl-w
	kTab
	kInterrupt // ctrl-c
	kEOF       // ctrl-d
	kClear     // ctrl-l
	kIdle      // not a key: the idle logout fired
)

// keyDecoder turns terminal bytes into keys: ASCII controls, UTF-8 text and
// the VT100/xterm escape sequences (ESC [ A..D, ESC [ H/F, ESC O H/F,
// ESC [ n ~) that serial terminals (minicom, screen, PuTTY) send.
type keyDecoder struct {
	esc     []byte
	utf     []byte
	lastCR  bool
	pending []key
}

func (d *keyDecoder) feed(b byte) []key {
	d.pending = d.pending[:0]
	if len(d.esc) > 0 {
		d.esc = append(d.esc, b)
		d.escape()
		return d.pending
	}
	if len(d.utf) > 0 {
		d.utf = append(d.utf, b)
		if r, n := decodeRune(d.utf); n > 0 {
			d.utf = d.utf[:0]
			d.pending = append(d.pending, key{r: r})
		} else if len(d.utf) >= 4 {
			d.utf = d.utf[:0]
		}
		return d.pending
	}
	cr := d.lastCR
	d.lastCR = false
	switch {
	case b == '\r':
		d.lastCR = true
		d.pending = append(d.pending, key{code: kEnter})
	case b == '\n':
		if !cr { // CR LF is one Enter
			d.pending = append(d.pending, key{code: kEnter})
		}
	case b == 0x7f || b == 0x08:
		d.pending = append(d.pending, key{code: kBackspace})
	case b == 0x1b:
		d.esc = append(d.esc[:0], b)
	case b == 0x01:
		d.pending = append(d.pending, key{code: kHome})
	case b == 0x05:
		d.pending = append(d.pending, key{code: kEnd})
	case b == 0x02:
		d.pending = append(d.pending, key{code: kLeft})
	case b == 0x06:
		d.pending = append(d.pending, key{code: kRight})
	case b == 0x10:
		d.pending = append(d.pending, key{code: kUp})
	case b == 0x0e:
		d.pending = append(d.pending, key{code: kDown})
	case b == 0x15:
		d.pending = append(d.pending, key{code: kKillLine})
	case b == 0x17:
		d.pending = append(d.pending, key{code: kKillWord})
	case b == 0x09:
		d.pending = append(d.pending, key{code: kTab})
	case b == 0x03:
		d.pending = append(d.pending, key{code: kInterrupt})
	case b == 0x04:
		d.pending = append(d.pending, key{code: kEOF})
	case b == 0x0c:
		d.pending = append(d.pending, key{code: kClear})
	case b >= 0x20 && b < 0x7f:
		d.pending = append(d.pending, key{r: rune(b)})
	case b >= 0xc0:
		d.utf = append(d.utf[:0], b)
	}
	return d.pending
}

func (d *keyDecoder) escape() {
	s := d.esc
	if len(s) < 2 {
		return
	}
	if s[1] != '[' && s[1] != 'O' {
		d.esc = d.esc[:0] // alt-key or a lone ESC: ignore
		return
	}
	if len(s) < 3 {
		return
	}
	last := s[len(s)-1]
	if last >= '0' && last <= '9' || last == ';' {
		if len(s) > 8 {
			d.esc = d.esc[:0]
		}
		return // parameters continue
	}
	code := kNone
	switch last {
	case 'A':
		code = kUp
	case 'B':
		code = kDown
	case 'C':
		code = kRight
	case 'D':
		code = kLeft
	case 'H':
		code = kHome
	case 'F':
		code = kEnd
	case '~':
		switch string(s[2 : len(s)-1]) {
		case "1", "7":
			code = kHome
		case "4", "8":
			code = kEnd
		case "3":
			code = kDelete
		}
	}
	d.esc = d.esc[:0]
	if code != kNone {
		d.pending = append(d.pending, key{code: code})
	}
}

func decodeRune(b []byte) (rune, int) {
	s := string(b)
	for _, r := range s {
		if r == 0xFFFD {
			return 0, 0
		}
		return r, len(b)
	}
	return 0, 0
}

// lineEditor is the editable input line with history.
type lineEditor struct {
	buf     []rune
	pos     int
	history []string
	hpos    int    // index into history while browsing; len(history) = new line
	saved   string // the new line, kept while browsing history
}

const maxHistory = 100

func (e *lineEditor) reset() {
	e.buf, e.pos = e.buf[:0], 0
	e.hpos = len(e.history)
}

func (e *lineEditor) String() string { return string(e.buf) }

func (e *lineEditor) set(s string) {
	e.buf = append(e.buf[:0], []rune(s)...)
	e.pos = len(e.buf)
}

func (e *lineEditor) insert(r rune) {
	e.buf = append(e.buf, 0)
	copy(e.buf[e.pos+1:], e.buf[e.pos:])
	e.buf[e.pos] = r
	e.pos++
}

func (e *lineEditor) insertString(s string) {
	for _, r := range s {
		e.insert(r)
	}
}

// apply edits the line for k; it reports false for keys it does not handle.
func (e *lineEditor) apply(k key) bool {
	if k.r != 0 {
		e.insert(k.r)
		return true
	}
	switch k.code {
	case kBackspace:
		if e.pos > 0 {
			e.buf = append(e.buf[:e.pos-1], e.buf[e.pos:]...)
			e.pos--
		}
	case kDelete:
		if e.pos < len(e.buf) {
			e.buf = append(e.buf[:e.pos], e.buf[e.pos+1:]...)
		}
	case kLeft:
		if e.pos > 0 {
			e.pos--
		}
	case kRight:
		if e.pos < len(e.buf) {
			e.pos++
		}
	case kHome:
		e.pos = 0
	case kEnd:
		e.pos = len(e.buf)
	case kKillLine:
		e.buf = append(e.buf[:0], e.buf[e.pos:]...)
		e.pos = 0
	case kKillWord:
		i := e.pos
		for i > 0 && e.buf[i-1] == ' ' {
			i--
		}
		for i > 0 && e.buf[i-1] != ' ' {
			i--
		}
		e.buf = append(e.buf[:i], e.buf[e.pos:]...)
		e.pos = i
	case kUp:
		if e.hpos > 0 {
			if e.hpos == len(e.history) {
				e.saved = e.String()
			}
			e.hpos--
			e.set(e.history[e.hpos])
		}
	case kDown:
		if e.hpos < len(e.history) {
			e.hpos++
			if e.hpos == len(e.history) {
				e.set(e.saved)
			} else {
				e.set(e.history[e.hpos])
			}
		}
	default:
		return false
	}
	return true
}

// commit adds the line to history (not blanks, not a repeat of the last).
func (e *lineEditor) commit() string {
	s := strings.TrimSpace(e.String())
	if s != "" && (len(e.history) == 0 || e.history[len(e.history)-1] != s) {
		e.history = append(e.history, s)
		if len(e.history) > maxHistory {
			e.history = e.history[1:]
		}
	}
	e.reset()
	return s
}

// render redraws the line: return to column 0, prompt, text, clear to the
// end, then move the cursor back to its place.
func (e *lineEditor) render(prompt string) string {
	var b strings.Builder
	b.WriteString("\r")
	b.WriteString(prompt)
	b.WriteString(string(e.buf))
	b.WriteString("\x1b[K")
	if back := len(e.buf) - e.pos; back > 0 {
		b.WriteString("\x1b[" + strconv.Itoa(back) + "D")
	}
	return b.String()
}
