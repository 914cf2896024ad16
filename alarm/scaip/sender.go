package scaip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// OutMessage is an out-of-dialog SIP MESSAGE to send.
type OutMessage struct {
	To, From     string // SIP URIs
	ContentType  string
	Body         []byte
	AuthUser     string // digest credentials, if the far end challenges
	AuthPassword string
}

// MessageClient sends a SIP MESSAGE and returns the final status of its
// transaction. The engine provides one; tests use a fake ARC.
type MessageClient interface {
	SendMessage(ctx context.Context, m OutMessage) (status int, err error)
}

// Replies hands <mrs> answers, which an ARC sends as MESSAGEs of its own,
// to the Sender waiting for them (by ref). Safe for concurrent use.
type Replies struct {
	mu      sync.Mutex
	waiting map[string]chan Response
}

// Deliver passes an <mrs> body on; false if nobody waits for its ref or the
// body is not a response.
func (r *Replies) Deliver(body []byte) bool {
	resp, err := ParseResponse(body)
	if err != nil {
		return false
	}
	r.mu.Lock()
	ch := r.waiting[resp.Ref]
	r.mu.Unlock()
	if ch == nil {
		return false
	}
	select {
	case ch <- resp:
	default: // one answer is enough
	}
	return true
}

func (r *Replies) wait(ref string) (<-chan Response, func()) {
	ch := make(chan Response, 1)
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = map[string]chan Response{}
	}
	r.waiting[ref] = ch
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		if r.waiting[ref] == ch {
			delete(r.waiting, ref)
		}
		r.mu.Unlock()
	}
}

// Target is an ARC reached over SCAIP: the event mapper's targetEndpoint
// (or its backupEndpoint).
type Target struct {
	To           string // destAddr
	From         string // overrideSipFrom, or the gateway's own URI
	AuthUser     string
	AuthPassword string
}

// Sender delivers events to one ARC over SCAIP. Its Send, Probe and Close
// make it a delivery.Sender (delivery adapts endpoints to it, not the
// other way round: this package needs no store).
type Sender struct {
	Client  MessageClient
	Replies *Replies
	Target  Target
	// ReplyTimeout bounds the wait for the ARC's <mrs> [10 s].
	ReplyTimeout time.Duration
	// HoldWait is the pause before resending on snu 4 (hold) [5 s: SS
	// 91100 says 5-20 s]; HoldRetries bounds the resends [3].
	HoldWait    time.Duration
	HoldRetries int
	Log         *slog.Logger
}

// ErrRefused is an answer that resending cannot change (snu 1, 2, 3, 7,
// 10). Send returns it marked alarm.Permanent, so the event goes to the
// dead letters instead of being retried forever.
var ErrRefused = errors.New("scaip: ARC refused the request")

func (s *Sender) replyTimeout() time.Duration {
	if s.ReplyTimeout > 0 {
		return s.ReplyTimeout
	}
	return 10 * time.Second
}

// Send delivers ev and returns nil once the ARC answered snu 0.
func (s *Sender) Send(ctx context.Context, ev alarm.Event) error {
	req := RequestFromEvent(ev)
	if err := req.Validate(); err != nil {
		return alarm.Permanent(fmt.Errorf("%w: event %s does not make a valid request: %v", ErrRefused, ev.ID, err))
	}
	retries := s.HoldRetries
	if retries == 0 {
		retries = 3
	}
	wait := s.HoldWait
	if wait == 0 {
		wait = 5 * time.Second
	}
	for attempt := 0; ; attempt++ {
		resp, err := s.exchange(ctx, req)
		if err != nil {
			return err
		}
		switch resp.Snu {
		case SnuOK:
			return nil
		case SnuHold:
			if attempt >= retries {
				return fmt.Errorf("scaip: ARC %s still on hold after %d resends", s.Target.To, retries)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		case SnuTooLong, SnuInvalidFormat, SnuWrongContent, SnuMandatoryMissing, SnuRefMissing:
			return alarm.Permanent(fmt.Errorf("%w: snu %d for ref %s", ErrRefused, resp.Snu, req.Ref))
		default:
			return fmt.Errorf("scaip: ARC %s answered snu %d", s.Target.To, resp.Snu)
		}
	}
}

// Probe sends a heartbeat (PI) and expects snu 0: the path is up.
func (s *Sender) Probe(ctx context.Context) error {
	req := Request{Ref: refOf(fmt.Sprintf("pi%x", time.Now().UnixNano())), Ver: "01.00", Mty: TypeHeartbeat, Cid: "0", Dty: "0000"}
	resp, err := s.exchange(ctx, req)
	if err != nil {
		return err
	}
	if resp.Snu != SnuOK {
		return fmt.Errorf("scaip: heartbeat answered snu %d", resp.Snu)
	}
	return nil
}

// Close releases nothing: the client belongs to the engine.
func (s *Sender) Close() error { return nil }

func (s *Sender) exchange(ctx context.Context, req Request) (Response, error) {
	body, err := req.Marshal()
	if err != nil {
		return Response{}, err
	}
	ch, done := s.Replies.wait(req.Ref)
	defer done()
	status, err := s.Client.SendMessage(ctx, OutMessage{To: s.Target.To, From: s.Target.From, ContentType: ContentType, Body: body,
		AuthUser: s.Target.AuthUser, AuthPassword: s.Target.AuthPassword})
	if err != nil {
		return Response{}, fmt.Errorf("scaip: MESSAGE to %s: %w", s.Target.To, err)
	}
	if status < 200 || status >= 300 {
		return Response{}, fmt.Errorf("scaip: MESSAGE to %s: status %d", s.Target.To, status)
	}
	t := time.NewTimer(s.replyTimeout())
	defer t.Stop()
	select {
	case resp := <-ch:
		return resp, nil
	case <-t.C:
		return Response{}, fmt.Errorf("scaip: no <mrs> from %s for ref %s within %v", s.Target.To, req.Ref, s.replyTimeout())
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
}

// Inbound takes the SCAIP MESSAGEs the gateway receives: <mrs> answers to
// its own requests go to Replies; <mrq> requests from alarm units go to the
// domain's Handler, and its <mrs> is sent back with Reply. HandleMessage
// has the engine's MessageHandler signature.
type Inbound struct {
	Replies *Replies
	// Handler returns the handler for a request to domain (the scaip
	// alarmbridge whose destinationMatch fits the number it was sent to,
	// which the engine keeps in ctx), or nil when none takes it.
	Handler func(ctx context.Context, domain string) *Handler
	// Reply sends the answer to the unit as a MESSAGE of its own.
	Reply func(ctx context.Context, domain, to string, body []byte) error
	Log   *slog.Logger

	wg sync.WaitGroup
}

// HandleMessage answers the SIP transaction: 200 for a SCAIP body taken
// (the SCAIP outcome travels in the <mrs>), 415 for another content type,
// 404 when the domain takes no SCAIP, 400 for a body that is neither.
func (in *Inbound) HandleMessage(ctx context.Context, domain, from, contentType string, body []byte) int {
	if !bytes.HasPrefix([]byte(contentType), []byte(ContentType)) {
		return 415
	}
	if in.Replies != nil && in.Replies.Deliver(body) {
		return 200
	}
	h := (*Handler)(nil)
	if in.Handler != nil {
		h = in.Handler(ctx, domain)
	}
	if h == nil {
		return 404
	}
	if _, err := ParseResponse(body); err == nil {
		return 200 // an answer nobody waits for (late, or a repeat)
	}
	resp, _ := h.Handle(ctx, body, alarm.Call{ID: "scaip:" + from, Domain: domain, Caller: from})
	if in.Reply != nil {
		in.wg.Add(1)
		go func() {
			// After the 200 of this transaction; ended by ctx (the engine's).
			defer in.wg.Done()
			if err := in.Reply(ctx, domain, from, resp); err != nil && in.Log != nil {
				in.Log.Warn("scaip: answer not sent", "to", from, "err", err)
			}
		}()
	}
	return 200
}

// Wait waits for answers still being sent (for a clean shutdown).
func (in *Inbound) Wait() { in.wg.Wait() }
