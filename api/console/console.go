package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/hal"
)

// Config is what a console session needs. API is required; the rest may be
// nil, and the commands that need them then say "not available".
type Config struct {
	// API is the REST API handler (api.New), called in-process.
	API http.Handler
	// Authorize sets credentials on in-process requests. When nil the
	// session asks for the admin key at login and sends it as a Bearer.
	Authorize func(*http.Request)
	Version   string
	Hostname  string
	Started   time.Time
	// IdleLogout forgets the admin key after this long without input
	// (default 15 minutes); only with the login prompt (Authorize nil).
	IdleLogout time.Duration

	// Board is the gateway's hardware, for `hw` and `relay`.
	Board  *hal.Board
	Calls  Calls
	Alarms Alarms
	Digits Digits
	Tones  Tones
	// LineSim is the pretend unit on the simulated FXS line (--hw sim).
	LineSim LineSim
	Logs    *LogRing
	// Net lists network interfaces; nil uses the host's (net.Interfaces).
	Net          func() ([]Iface, error)
	Reboot       func() error
	FactoryReset func() error
	// TLSFingerprint is the HTTPS certificate's SHA-256 now, shown by
	// status so an installer can check what the browser shows; nil or ""
	// without --https.
	TLSFingerprint func() string
}

// Calls lists and ends calls in progress.
type Calls interface {
	ListCalls() []CallInfo
	HangupCall(id string) error
}

// CallInfo is one call in progress (the REST status summary's type).
type CallInfo = api.CallInfo

// Alarms shows the alarm pipeline and pushes the queue.
type Alarms interface {
	RecentAlarms(n int) []AlarmInfo
	QueuedAlarms() []AlarmInfo
	// RetryNow makes every queued event due now; it returns how many.
	RetryNow() (int, error)
}

// AlarmInfo is one alarm event as the console lists it (the REST alarm
// lists' type: /gateway/alarms/...).
type AlarmInfo = api.AlarmInfo

// Digits streams DTMF digits heard on any call.
type Digits interface {
	// SubscribeDigits delivers digits until cancel is called.
	SubscribeDigits() (digits <-chan Digit, cancel func())
}

// Digit is one DTMF key heard on a call.
type Digit struct {
	Key        byte
	CallID     string
	DurationMs int
}

// Tones plays a tone on the line (dial, busy, ringback, congestion, a
// frequency in Hz, or dtmf:DIGITS).
type Tones interface {
	PlayTone(ctx context.Context, tone string, d time.Duration) error
}

// Iface is one network interface for `net`.
type Iface struct {
	Name  string
	Up    bool
	MAC   string
	Addrs []string
}

// Session is one console on one port.
type Session struct {
	cfg   Config
	port  io.ReadWriteCloser
	in    chan []byte
	dec   keyDecoder
	queue []key
	ed    lineEditor
	out   *bufioWriter
	token string
	cmds  map[string]*command
	names []string
}

// ErrClosed ends Run when the port reaches end of input.
var errInputClosed = errors.New("console: input closed")

// Run serves the console on port until ctx ends or the input ends (ctrl-d
// on a pipe, a vanished serial device). It owns port: it closes it on
// return, which also stops its reader goroutine.
func Run(ctx context.Context, port io.ReadWriteCloser, cfg Config) error {
	if cfg.API == nil {
		return errors.New("console: Config.API is nil")
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	if cfg.IdleLogout <= 0 {
		cfg.IdleLogout = 15 * time.Minute
	}
	s := &Session{cfg: cfg, port: port, in: make(chan []byte, 16), out: &bufioWriter{w: port}}
	s.ed.reset()
	s.register()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the reader: stopped by closing port
		defer wg.Done()
		defer close(s.in)
		for {
			b := make([]byte, 256)
			n, err := port.Read(b)
			if n > 0 {
				s.in <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { port.Close() })
	defer stop()
	err := s.loop(ctx)
	port.Close()
	// Drain so the reader is never blocked on a full channel.
	for range s.in {
	}
	wg.Wait()
	if errors.Is(err, errInputClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Session) loop(ctx context.Context) error {
	host := s.cfg.Hostname
	if host == "" {
		host = "edgebridge"
	}
	s.println("")
	s.printf("edgebridge %s field console. Type 'help' for commands; tab completes.\n", s.cfg.Version)
	for ctx.Err() == nil {
		if s.cfg.Authorize == nil && s.token == "" {
			if err := s.login(ctx); err != nil {
				return err
			}
			continue
		}
		line, err := s.readLine(ctx, host+"> ", lineCommand)
		if err != nil {
			return err
		}
		if line == "" {
			continue
		}
		s.exec(ctx, line)
	}
	return nil
}

func (s *Session) login(ctx context.Context) error {
	key, err := s.readLine(ctx, "admin key: ", lineSecret)
	if err != nil {
		return err
	}
	if key == "" {
		return nil
	}
	s.token = key
	code, _, err := s.rest(ctx, http.MethodGet, "/openapi.json", nil, "")
	if err == nil && code == http.StatusUnauthorized {
		s.token = ""
		s.println("wrong key.")
		return nil
	}
	s.println("logged in.")
	return nil
}

// nextKey waits for the next keypress.
func (s *Session) nextKey(ctx context.Context) (key, error) {
	for len(s.queue) == 0 {
		s.out.flush()
		var idle <-chan time.Time
		if s.cfg.Authorize == nil && s.token != "" {
			t := time.NewTimer(s.cfg.IdleLogout)
			defer t.Stop()
			idle = t.C
		}
		select {
		case <-idle:
			// A console left logged in on a cupboard's serial header is an
			// open door: forget the key, as a shell's TMOUT would.
			s.token = ""
			s.printf("\r\nlogged out after %s without input.\n", s.cfg.IdleLogout)
			return key{code: kIdle}, nil
		case <-ctx.Done():
			return key{}, ctx.Err()
		case b, ok := <-s.in:
			if !ok {
				return key{}, errInputClosed
			}
			for _, c := range b {
				s.queue = append(s.queue, s.dec.feed(c)...)
			}
		}
	}
	k := s.queue[0]
	s.queue = s.queue[1:]
	return k, nil
}

// untilKey shows each value from events until a key is pressed (any key
// stops a streaming command), ctx ends or events closes.
func untilKey[T any](ctx context.Context, s *Session, events <-chan T, show func(T) string) error {
	for {
		s.out.flush()
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-s.in:
			if !ok {
				return errInputClosed
			}
			s.queue = s.queue[:0]
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			s.println(show(ev))
		}
	}
}

// Input modes of readLine.
const (
	lineCommand = iota // echoed, kept in the history
	linePlain          // echoed, not kept (answers to questions)
	lineSecret         // not echoed, not kept (the admin key)
)

// readLine edits one line.
func (s *Session) readLine(ctx context.Context, prompt string, mode int) (string, error) {
	echo := mode != lineSecret
	s.ed.reset()
	draw := func() {
		if echo {
			s.out.WriteString(s.ed.render(prompt))
		} else {
			s.out.WriteString("\r" + prompt + "\x1b[K")
		}
	}
	draw()
	for {
		k, err := s.nextKey(ctx)
		if err != nil {
			return "", err
		}
		switch k.code {
		case kEnter:
			s.out.WriteString("\r\n")
			if mode != lineCommand {
				line := s.ed.String()
				s.ed.reset()
				return strings.TrimSpace(line), nil
			}
			return s.ed.commit(), nil
		case kIdle:
			s.ed.reset()
			return "", nil
		case kInterrupt:
			s.out.WriteString("^C\r\n")
			s.ed.reset()
			return "", nil
		case kEOF:
			if len(s.ed.buf) == 0 {
				s.out.WriteString("\r\n")
				if s.cfg.Authorize == nil && s.token != "" {
					s.token = ""
					s.println("logged out.")
					return "", nil
				}
				return "", nil
			}
			k = key{code: kDelete}
		case kTab:
			if mode == lineCommand {
				s.complete(prompt)
			}
			draw()
			continue
		case kClear:
			s.out.WriteString("\x1b[H\x1b[2J")
			draw()
			continue
		}
		if mode != lineCommand && (k.code == kUp || k.code == kDown) {
			continue // never recall history into the key prompt or an answer
		}
		if s.ed.apply(k) {
			draw()
		}
	}
}

func (s *Session) complete(prompt string) {
	line := string(s.ed.buf[:s.ed.pos])
	words := strings.Fields(line)
	if strings.HasSuffix(line, " ") || len(words) == 0 {
		words = append(words, "")
	}
	prefix := words[len(words)-1]
	var cands []string
	if len(words) == 1 {
		cands = s.names
	} else if c := s.cmds[words[0]]; c != nil && c.complete != nil {
		cands = c.complete(s, words[1:len(words)-1])
	}
	var match []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 0:
		s.out.WriteString("\a")
	case 1:
		s.ed.insertString(match[0][len(prefix):] + " ")
	default:
		common := match[0]
		for _, m := range match[1:] {
			for !strings.HasPrefix(m, common) {
				common = common[:len(common)-1]
			}
		}
		if len(common) > len(prefix) {
			s.ed.insertString(common[len(prefix):])
			return
		}
		s.out.WriteString("\r\n" + strings.Join(match, "  ") + "\r\n")
	}
}

func (s *Session) exec(ctx context.Context, line string) {
	args := splitArgs(line)
	c := s.cmds[args[0]]
	if c == nil {
		s.printf("unknown command %q; type 'help' for the list.\n", args[0])
		return
	}
	if len(args) > 1 && (args[1] == "help" || args[1] == "-h" || args[1] == "--help") {
		s.helpFor(c)
		return
	}
	if err := c.run(ctx, s, args[1:]); err != nil {
		s.println("error: " + oneLine(err.Error()))
	}
}

// splitArgs splits on blanks, keeping "double quoted" or 'single quoted'
// words (JSON values with spaces) together.
func splitArgs(line string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	in := false
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}

// rest runs one operation on the API in-process and returns the status and
// decoded JSON body (nil if the body is not JSON).
func (s *Session) rest(ctx context.Context, method, path string, body io.Reader, ctype string) (int, any, error) {
	code, raw, err := s.restRaw(ctx, method, path, body, ctype)
	if err != nil {
		return code, nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return code, nil, nil
	}
	return code, v, nil
}

func (s *Session) restRaw(ctx context.Context, method, path string, body io.Reader, ctype string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return 0, nil, err
	}
	req.RemoteAddr = "console"
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if s.cfg.Authorize != nil {
		s.cfg.Authorize(req)
	} else if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	rec := &recorder{h: http.Header{}}
	s.cfg.API.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	return rec.code, rec.body.Bytes(), nil
}

// restError turns a non-2xx answer into one plain line.
func restError(code int, v any) error {
	reason := ""
	if m, ok := v.(map[string]any); ok {
		reason, _ = m["reason"].(string)
	}
	if reason == "" {
		reason = strings.ToLower(http.StatusText(code))
	}
	switch code {
	case http.StatusUnauthorized:
		return fmt.Errorf("not authorised: %s (use 'login')", reason)
	case http.StatusNotFound:
		return fmt.Errorf("not found: %s", reason)
	}
	return errors.New(reason)
}

// recorder is the in-process http.ResponseWriter.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// bufioWriter buffers output and turns \n into \r\n: the port is raw, with
// no output processing (tarm/serial clears OPOST).
type bufioWriter struct {
	w   io.Writer
	buf []byte
}

func (b *bufioWriter) WriteString(s string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			b.buf = append(b.buf, '\r')
		}
		b.buf = append(b.buf, s[i])
	}
	if len(b.buf) > 4096 {
		b.flush()
	}
}

func (b *bufioWriter) flush() {
	if len(b.buf) > 0 {
		b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

func (s *Session) printf(format string, a ...any) { s.out.WriteString(fmt.Sprintf(format, a...)) }
func (s *Session) println(line string)            { s.out.WriteString(line + "\n") }

// command is one console command.
type command struct {
	name, usage, help string
	run               func(ctx context.Context, s *Session, args []string) error
	complete          func(s *Session, args []string) []string
}

func (s *Session) add(c *command) {
	if s.cmds == nil {
		s.cmds = map[string]*command{}
	}
	s.cmds[c.name] = c
	s.names = append(s.names, c.name)
	sort.Strings(s.names)
}

func (s *Session) helpFor(c *command) {
	s.printf("usage: %s\n", c.usage)
	for _, l := range strings.Split(c.help, "\n") {
		s.println("  " + l)
	}
}

// LineSim is the pretend alarm unit on the simulated FXS line.
type LineSim interface {
	// SimulateLine (`line simulate ARGS`) dials the gateway and runs the
	// unit's protocol, sending one line of account per step to lines, and
	// returns once the unit is acknowledged (nil), gives up, or ctx ends.
	SimulateLine(ctx context.Context, args []string, lines chan<- string) error
	// AnswerLine (`line answer ARGS`) arms the unit to answer the ARC's
	// call back (or, with "off", disarms it), then sends one line per step
	// of the next call back (ring bursts, off hook, keys heard, hang-up)
	// until the call ends or ctx ends, when the unit hangs up if it is in
	// the call. It returns the line to end with.
	AnswerLine(ctx context.Context, args []string, lines chan<- string) (string, error)
}
