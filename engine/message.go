package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// OutMessage is an out-of-dialog SIP MESSAGE (RFC 3428) the gateway sends:
// a SCAIP request to an ARC, or the SCAIP answer to an alarm unit.
type OutMessage struct {
	// To is the Request-URI ("sip:arc@10.0.0.9:5060;transport=tcp"), or a
	// user registered here (the newest binding of that device is used).
	To string
	// From is a SIP URI, or a user part put at the gateway's own address
	// (host:port, so that the far end can answer with a MESSAGE of its
	// own). Default "edgebridge".
	From string
	// Domain is the tenant for bindings and the SIP log; default the engine's.
	Domain      string
	ContentType string
	Body        []byte
	// Username and Password answer one 401/407 digest challenge.
	Username, Password string
	Headers            []sip.Header
	// AwaitAnswer says the peer answers with a MESSAGE of its own (a SCAIP
	// ARC's <mrs>): for a while, a MESSAGE from its address is let in
	// without digest, as an answer only (see MessageIsAnswer).
	AwaitAnswer bool
}

// maxUDPMessage is RFC 3428 §9's limit for a MESSAGE outside a media
// session on a transport without congestion control.
const maxUDPMessage = 1300

// SendMessage sends m and returns the status of the final response. err is
// set when no final response came (transport error, timeout, ctx done) or
// m is invalid; a final non-2xx answer is a status, not an error.
func (e *Engine) SendMessage(ctx context.Context, m OutMessage) (int, error) {
	if e.ua == nil {
		return 0, errors.New("engine: SendMessage before Start")
	}
	if m.ContentType == "" {
		return 0, errors.New("engine: MESSAGE without a Content-Type")
	}
	domain := m.Domain
	if domain == "" {
		domain = e.cfg.Domain
	}
	ruri, hop, transport, err := e.messageTarget(domain, m.To)
	if err != nil {
		return 0, err
	}
	from, err := e.messageFrom(m.From)
	if err != nil {
		return 0, err
	}
	if in := inboundOf(ctx); in != nil && in.source == hop {
		// The answer to a MESSAGE still being handled (a SCAIP <mrs> to
		// the unit) follows the 200 of that transaction, as units expect.
		select {
		case <-in.answered:
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}

	req := sip.NewRequest(sip.MESSAGE, ruri)
	fh := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fh.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host, Port: ruri.Port}, Params: sip.NewParams()})
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + e.host)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.MESSAGE})
	req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	req.AppendHeader(sip.NewHeader("User-Agent", e.cfg.UserAgent))
	for _, h := range m.Headers {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", m.ContentType))
	req.SetBody(m.Body)
	if transport == "UDP" {
		// Headers still to come (Via, Authorization) fit in the margin
		// of a body that must stay well below the limit anyway.
		if n := len(req.String()) + 200; n > maxUDPMessage {
			return 0, fmt.Errorf("engine: MESSAGE of about %d bytes to %s: over the %d bytes RFC 3428 §9 allows on UDP; use transport=tcp", n, m.To, maxUDPMessage)
		}
	}
	if domain != e.cfg.Domain {
		e.trace.noteDomain(callID.Value(), domain)
	}
	auth := passwordAuth(m.Username, m.Password, from.User)
	if m.AwaitAnswer {
		e.awaitAnswer(hop) // before sending: the answer may overtake the 200
	}
	res, err := e.request(ctx, req, transport, hop, auth)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("engine: MESSAGE to %s: %w", m.To, ctx.Err())
		}
		return 0, fmt.Errorf("engine: MESSAGE to %s: %w", m.To, err)
	}
	if m.AwaitAnswer {
		e.awaitAnswer(res.Source()) // for a named host: where it really answers from
	}
	return res.StatusCode, nil
}

// answerWindow is how long after a MESSAGE its peer may answer with a
// MESSAGE of its own without digest (SCAIP's <mrs> follows within seconds).
const answerWindow = time.Minute

// answerPeers holds the addresses MESSAGEs with AwaitAnswer went to and
// until when a MESSAGE from them is taken as an answer. An ARC answering
// with <mrs> has no credentials at the gateway (digest runs from the
// gateway to the ARC), so without this its answer would be refused as an
// unknown caller unless its network were trusted for everything.
type answerPeers struct {
	mu    sync.Mutex
	until map[netip.Addr]time.Time
}

func (e *Engine) awaitAnswer(hostport string) {
	ip, ok := addrOf(hostport)
	if !ok {
		return
	}
	t := &e.answers
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.until == nil {
		t.until = map[netip.Addr]time.Time{}
	}
	if len(t.until) > 1000 {
		for k, u := range t.until {
			if now.After(u) {
				delete(t.until, k)
			}
		}
	}
	t.until[ip] = now.Add(answerWindow)
}

// awaitedAnswer says whether req comes from a peer the engine sent a
// MESSAGE to within answerWindow. Such a MESSAGE skips digest, and the
// handler sees MessageIsAnswer(ctx) true, to accept only an answer.
func (e *Engine) awaitedAnswer(req *sip.Request) bool {
	ip, ok := addrOf(req.Source())
	if !ok {
		return false
	}
	t := &e.answers
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.until[ip]
	return ok && time.Now().Before(u)
}

func addrOf(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// MessageIsAnswer is, inside a MessageHandler, true when the MESSAGE was
// let in without authentication because it comes from a peer the gateway
// sent a MESSAGE to moments ago: the handler must take it only as an
// answer to that (a SCAIP <mrs>), never as a request of its own.
func MessageIsAnswer(ctx context.Context) bool {
	in := inboundOf(ctx)
	return in != nil && in.answerOnly
}

// MessageCalled is, inside a MessageHandler, the user part of the
// MESSAGE's Request-URI: the number the sender addressed (an alarmbridge's
// destinationMatch is matched against it).
func MessageCalled(ctx context.Context) string {
	if in := inboundOf(ctx); in != nil {
		return in.called
	}
	return ""
}

// messageTarget resolves To: a SIP URI goes where it says; a bare user goes
// to the newest binding of that device, at the address it registered from.
func (e *Engine) messageTarget(domain, to string) (sip.Uri, string, string, error) {
	var u sip.Uri
	if to == "" {
		return u, "", "", errors.New("engine: MESSAGE without a To URI")
	}
	if !strings.HasPrefix(to, "sip:") && !strings.HasPrefix(to, "sips:") {
		bs := e.reg.lookup(domain, to)
		if len(bs) == 0 {
			return u, "", "", &DialError{Code: 404, Reason: "no binding for " + to + " in " + domain}
		}
		var spec dialSpec
		if err := e.deviceSpec(&spec, bs); err != nil {
			return u, "", "", err
		}
		return spec.ruri, spec.hop, spec.transport, nil
	}
	if err := sip.ParseUri(to, &u); err != nil {
		return u, "", "", fmt.Errorf("engine: MESSAGE To %q: %w", to, err)
	}
	if u.Host == "" {
		return u, "", "", fmt.Errorf("engine: MESSAGE To %q: no host", to)
	}
	hop, transport := uriTarget(u)
	switch transport {
	case "UDP", "TCP", "TLS":
	default:
		return u, "", "", fmt.Errorf("engine: MESSAGE To %q: transport %q: want udp, tcp or tls", to, transport)
	}
	return u, hop, transport, nil
}

// messageFrom is the From URI: given, or user@gateway-host:port.
func (e *Engine) messageFrom(from string) (sip.Uri, error) {
	if strings.HasPrefix(from, "sip:") || strings.HasPrefix(from, "sips:") {
		var u sip.Uri
		if err := sip.ParseUri(from, &u); err != nil {
			return u, fmt.Errorf("engine: MESSAGE From %q: %w", from, err)
		}
		return u, nil
	}
	if from == "" {
		from = "edgebridge"
	}
	if strings.ContainsAny(from, "@:;<> ") {
		return sip.Uri{}, fmt.Errorf("engine: MESSAGE From %q: want a SIP URI or a user part", from)
	}
	return sip.Uri{Scheme: "sip", User: from, Host: e.host, Port: e.port}, nil
}

// inbound is the MESSAGE a MessageHandler is handling, carried in its ctx.
type inbound struct {
	source    string // host:port the request came from
	transport string
	user      string        // From user
	called    string        // Request-URI user: the number the unit sent to
	answered  chan struct{} // closed once the final response is sent
	// answerOnly: not authenticated, let in as an awaited answer.
	answerOnly bool
}

type inboundKey struct{}

func inboundOf(ctx context.Context) *inbound {
	in, _ := ctx.Value(inboundKey{}).(*inbound)
	return in
}

// messageContext gives the MessageHandler a ctx that knows where req came
// from and whether it is only an awaited answer; done is called once the
// response has been sent.
func (e *Engine) messageContext(req *sip.Request, answerOnly bool) (ctx context.Context, done func()) {
	user := ""
	if f := req.From(); f != nil {
		user = f.Address.User
	}
	in := &inbound{source: req.Source(), transport: strings.ToUpper(req.Transport()), user: user, called: req.Recipient.User,
		answered: make(chan struct{}), answerOnly: answerOnly}
	return context.WithValue(e.ctx, inboundKey{}, in), func() { close(in.answered) }
}

// MessageReplyURI is, inside a MessageHandler, the URI that reaches the
// sender of the MESSAGE being handled: its From user at the address and
// transport the request came from (like rport, RFC 3581: it crosses the
// unit's NAT, which its own From or Contact host may not). A MESSAGE sent
// there with SendMessage on this ctx leaves only after this request's 200,
// so send it from another goroutine than the handler's.
func MessageReplyURI(ctx context.Context) (string, bool) {
	in := inboundOf(ctx)
	if in == nil || in.source == "" {
		return "", false
	}
	host, port, err := net.SplitHostPort(in.source)
	if err != nil {
		return "", false
	}
	u := sip.Uri{Scheme: "sip", User: in.user, Host: host}
	if p, err := strconv.Atoi(port); err == nil {
		u.Port = p
	}
	if in.transport != "" && in.transport != "UDP" {
		u.UriParams = sip.HeaderParams{{K: "transport", V: strings.ToLower(in.transport)}}
	}
	return u.String(), true
}
