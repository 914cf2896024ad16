package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Every request reaches its handler through guard: a request missing a
// mandatory header, or carrying one twice or malformed, is refused with 400
// before any handler reads it (sipgo itself refuses only a missing Via or
// CSeq and passes a request without Call-ID, From or To on), and a panic
// in a handler costs that request a 500, not the daemon. Both are counted
// for /metrics and logged through a limiter, so a flood of bad datagrams
// neither stops the gateway nor fills its flash with log lines.

// guard wraps a handler with the header check and the last-resort recover.
func (e *Engine) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer e.recoverRequest(req, tx)
		if code, reason := checkRequest(req); code != 0 {
			e.stats.malformed.Add(1)
			e.edgeLog.log(slog.LevelWarn, "SIP request refused", "code", code, "reason", reason, "method", req.Method.String(), "source", req.Source())
			if !req.IsAck() {
				e.respond(tx, req, code, statusText(code), reasonHeader(code, reason))
			}
			return
		}
		h(req, tx)
	}
}

// recoverRequest is deferred by guard: a handler's panic is logged with its
// stack (rate limited), counted and answered 500 when a response can still go.
func (e *Engine) recoverRequest(req *sip.Request, tx sip.ServerTransaction) {
	r := recover()
	if r == nil {
		return
	}
	e.stats.panics.Add(1)
	e.edgeLog.log(slog.LevelError, "SIP handler panicked; request dropped", "method", req.Method.String(),
		"source", req.Source(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if req.IsAck() {
		return
	}
	defer func() { _ = recover() }() // the response may be what panics
	e.respond(tx, req, 500, "Server Internal Error", reasonHeader(500, "internal error"))
}

// singleHeaders may appear at most once (RFC 3261 §7.3.1: only headers
// whose value is a comma-separated list may repeat).
var singleHeaders = []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// checkRequest returns the status and reason to refuse req with, or 0 when
// its mandatory headers (RFC 3261 §8.1.1) are each present once and parse.
// A missing Max-Forwards is a harmless deviation some units make and is
// let through; a present one must be a number, and 0 ends the request with
// 483 (§16.3 step 3; OPTIONS excepted, §11).
func checkRequest(req *sip.Request) (int, string) {
	for _, name := range singleHeaders {
		if n := len(req.GetHeaders(name)); n > 1 {
			return 400, name + " appears " + strconv.Itoa(n) + " times"
		}
	}
	if via := req.Via(); via == nil || via.Host == "" {
		return 400, "Via missing or without host"
	} else {
		switch strings.ToUpper(via.Transport) {
		case "UDP", "TCP", "TLS", "SCTP", "WS", "WSS":
		default:
			return 400, "Via transport " + via.Transport + " unknown"
		}
	}
	from, to := req.From(), req.To()
	if from == nil || from.Address.Host == "" {
		return 400, "From missing or without host"
	}
	if to == nil || to.Address.Host == "" {
		return 400, "To missing or without host"
	}
	if id := req.CallID(); id == nil || strings.TrimSpace(id.Value()) == "" {
		return 400, "Call-ID missing"
	}
	cseq := req.CSeq()
	if cseq == nil {
		return 400, "CSeq missing"
	}
	if cseq.MethodName != req.Method {
		return 400, "CSeq method " + string(cseq.MethodName) + " is not the request's " + string(req.Method)
	}
	if h := req.GetHeader("Max-Forwards"); h != nil {
		n, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || n < 0 || n > 255 {
			return 400, "Max-Forwards is not 0-255"
		}
		if n == 0 && req.Method != sip.OPTIONS {
			return 483, "Max-Forwards is 0"
		}
	}
	if req.Method == sip.INVITE {
		if c := req.Contact(); c == nil || c.Address.Host == "" {
			return 400, "INVITE without a usable Contact"
		}
	}
	if len(req.Body()) > 0 {
		ct := req.ContentType()
		if ct == nil {
			return 400, "body without Content-Type"
		}
		// The offer of an INVITE (or the answer in an ACK) is SDP only.
		mt, _, _ := strings.Cut(ct.Value(), ";")
		if (req.Method == sip.INVITE || req.Method == sip.ACK) && !strings.EqualFold(strings.TrimSpace(mt), "application/sdp") {
			return 415, "body is not application/sdp"
		}
	}
	return 0, ""
}

// logLimiter lets at most burst lines through per second and says, with
// the next line it lets through, how many it held back.
type logLimiter struct {
	l     *slog.Logger
	burst int

	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

func newLogLimiter(l *slog.Logger, burst int) *logLimiter {
	return &logLimiter{l: l, burst: burst}
}

func (ll *logLimiter) allow() (bool, int) {
	now := time.Now()
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if now.Sub(ll.window) >= time.Second {
		ll.window, ll.n = now, 0
	}
	if ll.n >= ll.burst {
		ll.suppressed++
		return false, 0
	}
	ll.n++
	s := ll.suppressed
	ll.suppressed = 0
	return true, s
}

func (ll *logLimiter) log(level slog.Level, msg string, args ...any) {
	ok, suppressed := ll.allow()
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	ll.l.Log(context.Background(), level, msg, args...)
}

// maxLoggedData is how much of a message a log line quotes.
const maxLoggedData = 120

// sipgoLogHandler sits under the logger given to sipgo's transport and
// transaction layers: it counts the messages sipgo could not parse or
// refused for a missing Via or CSeq (sipgo only logs those), cuts the
// message it quotes to maxLoggedData bytes, and lets warnings and errors
// through the edge's limiter. sipgo's debug lines (a few per transaction:
// created, terminated, deleted) are dropped: the SIP log holds every message,
// and kept in the daemon's log ring they cost 4 KB and 2 % of the CPU per
// B2BUA call.
type sipgoLogHandler struct {
	next      slog.Handler
	limit     *logLimiter
	malformed *atomic.Uint64
}

func (h *sipgoLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || (l >= slog.LevelInfo && h.next.Enabled(ctx, l))
}

func (h *sipgoLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	if sipgoMalformed(r) {
		h.malformed.Add(1)
	}
	ok, suppressed := h.limit.allow()
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindString && len(a.Value.String()) > maxLoggedData {
			a.Value = slog.StringValue(a.Value.String()[:maxLoggedData] + "…")
		}
		out.AddAttrs(a)
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, out)
}

// sipgoMalformed recognises sipgo v1.7's log lines for input it dropped:
// a message that did not parse, and a request without Via or CSeq
// (TestMalformedCountedAndLogLimited fails if a sipgo upgrade renames them).
func sipgoMalformed(r slog.Record) bool {
	if r.Message == "failed to parse" {
		return true
	}
	if r.Message != "Server tx failed to handle request" {
		return false
	}
	bad := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" && strings.Contains(a.Value.String(), "make key failed") {
			bad = true
		}
		return !bad
	})
	return bad
}

func (h *sipgoLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sipgoLogHandler{next: h.next.WithAttrs(as), limit: h.limit, malformed: h.malformed}
}

func (h *sipgoLogHandler) WithGroup(name string) slog.Handler {
	return &sipgoLogHandler{next: h.next.WithGroup(name), limit: h.limit, malformed: h.malformed}
}

// strayResponse takes responses that match no transaction (retransmitted
// finals, or forged ones): counted, never logged per message. A 2xx our ACK
// did not reach is ACKed again (reackAnswer).
func (e *Engine) strayResponse(res *sip.Response) {
	e.stats.strayResponses.Add(1)
	e.reackAnswer(res)
}
