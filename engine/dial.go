package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/store"
)

// DialOptions describe an outbound call.
type DialOptions struct {
	// To is a SIP URI ("sip:1234@10.0.0.5:5060;transport=tcp") called
	// directly, or a number routed like an inbound call: trunks by
	// destinationMatch, then devices registered here.
	To       string
	From     string // caller user part; default "edgebridge"
	FromName string
	Domain   string // tenant for routing and logs; default the engine's
	// Username and Password answer a digest challenge from the far end.
	Username, Password string
	Headers            []sip.Header
	Media              MediaOptions
	SRTP               bool // offer RTP/SAVP with SDES keys (and insist on it)
	// OnProgress sees each provisional response (180, 183), with the
	// INVITE's Call-ID (the media service's callNotify sipCallId).
	OnProgress func(code int, reason, callID string)
	// ToUser, when set, is the user part of the INVITE's To instead of the
	// called user (the media service API's sipTo).
	ToUser string
	// ContactParams are added to the URI of the INVITE's Contact, and
	// ContactUserParams to its user part (user;k=v@host): the media service
	// API's contactParameters and contactUserParameters. The caller checks
	// they are tokens.
	ContactParams, ContactUserParams sip.HeaderParams
}

// dialSpec is a resolved outbound leg.
type dialSpec struct {
	ruri       sip.Uri
	to         sip.Uri // the To; zero: the Request-URI without parameters
	fromHost   string  // host of the From; "" is the engine's
	pai        string  // P-Asserted-Identity (RFC 3325), "" for none
	hop        string
	transport  string
	from, name string
	domain     string
	auth       *authInfo
	headers    []sip.Header
	opts       MediaOptions
	srtp       sdp.SRTPPolicy // what the INVITE offers
	srtpMode   string         // the callee's srtp setting (device or trunk)
	trunk      *trunk
	onProgress func(code int, reason, callID string)
	// onHeard runs on each response of the callee, 100 Trying included:
	// the caller's setup is then no longer work in flight (overload.go).
	onHeard  func()
	toUser   string
	ctParams sip.HeaderParams // Contact URI parameters
	ctUser   sip.HeaderParams // Contact user parameters
	// onEarly sees the leg, its session started, when a provisional
	// response brought the callee's SDP (early media, RFC 3960).
	onEarly func(out *Call, code int, reason string)
	// rewrite sends in-dialog requests to where the answer came from rather
	// than to its Contact: a peer behind NAT (forceNatRewrites, or a device
	// whose REGISTER came from another address than its Contact), or a
	// trunk reached through its outbound server.
	rewrite bool
	// plan, when set, rings several legs (fork.go: a device's
	// registrations, group.go: a group's members) instead of this one.
	plan []ringStage
	leg  *forkLeg // this leg's branch of a plan
	// busyKey marks the callee device in a call while the leg lasts
	// (group.go: huntLongestIdle).
	busyKey string
	// queue, when set, makes the plan when the call's turn in its group's
	// queue comes (queue.go); onQueued runs once if the call has to wait.
	queue    *groupQueue
	onQueued func()
}

// DialError is a call the far end (or routing) refused.
type DialError struct {
	Code   int
	Reason string
}

func (d *DialError) Error() string {
	return fmt.Sprintf("engine: call refused: %d %s", d.Code, d.Reason)
}

// Dial places an outbound call and returns it answered, with its Session
// started. ctx bounds the setup; cancelling it before the answer sends CANCEL.
func (e *Engine) Dial(ctx context.Context, o DialOptions) (*Call, error) {
	if e.ua == nil {
		return nil, errors.New("engine: Dial before Start")
	}
	spec := dialSpec{
		from: o.From, name: o.FromName, domain: o.Domain, headers: o.Headers,
		opts: o.Media, onProgress: o.OnProgress,
		toUser: o.ToUser, ctParams: o.ContactParams, ctUser: o.ContactUserParams,
	}
	asked := sdp.SRTPOff
	if o.SRTP {
		asked = sdp.SRTPRequired
	}
	// policy is the INVITE's SRTP once the callee's setting is known.
	policy := func() error {
		var why string
		if spec.srtp, why = offerPolicy(spec.srtpMode, asked); why != "" {
			return &DialError{Code: 488, Reason: why}
		}
		return nil
	}
	if spec.from == "" {
		spec.from = "edgebridge"
	}
	if spec.domain == "" {
		spec.domain = e.cfg.Domain
	}
	spec.auth = passwordAuth(o.Username, o.Password, spec.from)
	if strings.HasPrefix(o.To, "sip:") || strings.HasPrefix(o.To, "sips:") {
		var u sip.Uri
		if err := sip.ParseUri(o.To, &u); err != nil {
			return nil, fmt.Errorf("engine: To %q: %w", o.To, err)
		}
		spec.ruri = u
		spec.hop, spec.transport = uriTarget(u)
		_ = policy()
		return e.dial(ctx, spec)
	}
	if xs, ok, err := e.extensionPlan(spec, spec.domain, o.To); ok {
		// A user's or group's extension (group.go), e.g. an alarm's voice
		// destination ringing the wardens' handsets.
		if err != nil {
			return nil, err
		}
		if err := policy(); err != nil {
			return nil, err
		}
		xs.srtp = spec.srtp
		return e.dialAny(ctx, xs)
	}
	t, dest, err := e.trunks.outbound(spec.domain, o.To)
	if err != nil {
		var re *routeError
		if errors.As(err, &re) {
			return nil, &DialError{Code: re.code, Reason: re.text}
		}
		return nil, err
	}
	if t != nil {
		if !t.acquire() {
			return nil, &DialError{Code: 503, Reason: "trunk " + t.cfg.TrunkID + " is at its concurrency limit"}
		}
		e.trunkSpec(&spec, t, dest, spec.from)
		if err := policy(); err != nil {
			t.release()
			return nil, err
		}
		c, err := e.dial(ctx, spec)
		if err != nil {
			t.release()
			return nil, err
		}
		go func() { <-c.done; t.release() }()
		return c, nil
	}
	if bs := e.reg.lookup(spec.domain, o.To); len(bs) > 0 {
		if err := e.deviceSpec(&spec, bs); err != nil {
			return nil, err
		}
		if err := policy(); err != nil {
			return nil, err
		}
		if len(bs) > 1 {
			legs, err := e.deviceLegs(spec, bs)
			if err != nil {
				return nil, err
			}
			spec.plan = []ringStage{{legs: legs}}
		}
		return e.dialAny(ctx, spec)
	}
	return nil, &DialError{Code: 404, Reason: "no route for " + o.To}
}

// trunkSpec fills spec for a call out through t to dest (provisioning schema, trunk
// rules: rewriteAnumber, diversionHeader, addTerminatingUriParameters,
// trunkGroupId, codecs).
func (e *Engine) trunkSpec(spec *dialSpec, t *trunk, dest, caller string) {
	host, port := t.target()
	spec.ruri = sip.Uri{Scheme: "sip", User: dest, Host: host, Port: port, UriParams: sip.NewParams()}
	for _, p := range strings.Split(t.cfg.AddTerminatingURIParameters, ";") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		spec.ruri.UriParams.Add(k, v)
	}
	if t.cfg.TrunkGroupID != "" {
		// RFC 4904 §5: trunk group in the Request-URI.
		spec.ruri.UriParams.Add("tgrp", t.cfg.TrunkGroupID)
		spec.ruri.UriParams.Add("trunk-context", spec.domain)
	}
	if t.transport() != "UDP" {
		spec.ruri.UriParams.Add("transport", strings.ToLower(t.transport()))
	}
	spec.hop = t.nextHop()
	spec.transport = t.transport()
	spec.from = caller
	if t.cfg.RewriteAnumber != "" {
		spec.from = t.cfg.RewriteAnumber
		spec.name = "" // the caller's name would contradict the new number
	}
	if t.cfg.DiversionHeader != "" {
		// RFC 5806: the number the call is diverted from.
		spec.headers = append(spec.headers, sip.NewHeader("Diversion",
			fmt.Sprintf("<sip:%s@%s>;reason=unconditional", t.cfg.DiversionHeader, e.host)))
	}
	if t.cfg.UserName != "" && (t.cfg.Password != "" || t.cfg.HA1 != "") {
		spec.auth = &authInfo{user: t.cfg.UserName, password: t.cfg.Password, ha1: t.cfg.HA1}
	}
	if c := t.cfg.TrunksideCodec; c == sdp.PCMA || c == sdp.PCMU {
		spec.opts.Codecs = []string{c}
	}
	spec.trunk = t
	spec.srtpMode = cmp.Or(t.cfg.SRTP, SRTPOff) // a trunk does not follow the caller
	spec.rewrite = t.cfg.ForceNatRewrites || t.cfg.OutboundServer != ""
}

// earlyAnswer applies the SDP of a provisional response to our offer and
// starts the session: early media (RFC 3960). The 200 carries the same
// answer (RFC 3261 §13.2.1), applied again with the same keys.
func (c *Call) earlyAnswer(offer *sdp.Session, body []byte) error {
	ans, err := sdp.Parse(body)
	if err != nil {
		return err
	}
	neg, err := sdp.Negotiate(offer, ans)
	if err != nil {
		return err
	}
	sess := c.Session()
	if err := sess.Apply(neg); err != nil {
		return err
	}
	if err := sess.Start(); err != nil {
		return err
	}
	c.mu.Lock()
	c.neg = neg
	c.mu.Unlock()
	return nil
}

// uriTarget is where a request to u goes directly: its transport (the
// transport parameter, TLS for sips, else UDP) and host:port (the
// transport's default port when u has none).
func uriTarget(u sip.Uri) (hop, transport string) {
	transport = "UDP"
	if tr, ok := u.UriParams.Get("transport"); ok {
		transport = strings.ToUpper(tr)
	}
	if u.Scheme == "sips" {
		transport = "TLS"
	}
	port := u.Port
	if port == 0 {
		port = sip.DefaultPort(transport)
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port)), transport
}

// deviceSpec fills spec for a call to the newest binding of a device, as a
// PBX addresses it: the Request-URI is the Contact (RFC 3261 §16.6), the To
// the address of record, the From in the device's domain. The request goes
// to the Contact, unless the REGISTER came from another address than the
// Contact names: then the device is behind a NAT and only its source
// address reaches it (the idea of RFC 5626). The device's srtp setting
// goes in spec.srtpMode.
func (e *Engine) deviceSpec(spec *dialSpec, bs []store.Binding) error {
	b := bs[0]
	for _, x := range bs[1:] {
		if x.Expires.After(b.Expires) {
			b = x
		}
	}
	var u sip.Uri
	if err := sip.ParseUri(b.Contact, &u); err != nil {
		return fmt.Errorf("engine: binding contact %q: %w", b.Contact, err)
	}
	spec.ruri = u
	spec.to = sip.Uri{Scheme: "sip", User: b.AOR, Host: b.Domain}
	spec.fromHost = b.Domain
	if dev, err := e.dir.Device(b.Domain, cmp.Or(b.DeviceID, b.AOR)); err == nil {
		spec.srtpMode = dev.SRTP
	}
	spec.transport = strings.ToUpper(b.Transport)
	if spec.transport == "" {
		spec.transport = "UDP"
	}
	spec.hop = b.Source
	spec.rewrite = true
	if srcHost, _, err := net.SplitHostPort(b.Source); err == nil && srcHost == u.Host {
		spec.rewrite = false
		port := u.Port
		if port == 0 {
			port = sip.DefaultPort(spec.transport)
		}
		spec.hop = net.JoinHostPort(u.Host, strconv.Itoa(port))
	}
	return nil
}

// dial sends the INVITE of spec and returns the answered leg.
func (e *Engine) dial(ctx context.Context, spec dialSpec) (*Call, error) {
	c := &Call{
		e: e, Domain: spec.domain, Caller: spec.from, CallerName: spec.name,
		Called: spec.ruri.User, Transport: spec.transport, Source: spec.hop,
		Start: time.Now(), opts: spec.opts, done: make(chan struct{}),
		// Known before the media starts, so that the leg's capture is filed
		// under it (capture.go).
		ID: sip.GenerateTagN(24) + "@" + e.host,
	}
	// Early media can end the leg (RTP timeout) before the answer.
	c.ctx, c.cancel = context.WithCancelCause(e.ctx)
	if spec.trunk != nil {
		c.Trunk = spec.trunk.cfg.TrunkID
		c.Route = "trunk/" + spec.trunk.cfg.TrunkID
	}
	sess, err := e.newSession(c)
	if err != nil {
		c.cancel(err)
		return nil, &DialError{Code: 503, Reason: "no RTP port: " + err.Error()}
	}
	cp := e.caps(c, sess)
	cp.SRTP = spec.srtp
	offer, err := sdp.Offer(cp)
	if err != nil {
		sess.Close()
		c.cancel(err)
		return nil, err
	}
	c.local = offer
	c.sess = sess

	req := sip.NewRequest(sip.INVITE, spec.ruri)
	from := &sip.FromHeader{DisplayName: spec.name, Address: sip.Uri{Scheme: "sip", User: spec.from, Host: cmp.Or(spec.fromHost, e.host)}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	toURI := spec.to
	if toURI.Host == "" {
		toURI = sip.Uri{Scheme: spec.ruri.Scheme, User: spec.ruri.User, Host: spec.ruri.Host, Port: spec.ruri.Port}
	}
	if spec.toUser != "" {
		toURI.User = spec.toUser
	}
	req.AppendHeader(&sip.ToHeader{Address: toURI, Params: sip.NewParams()})
	if spec.pai != "" {
		req.AppendHeader(sip.NewHeader("P-Asserted-Identity", spec.pai))
	}
	ct := e.contact(spec.transport)
	for _, p := range spec.ctUser {
		ct.Address.User += ";" + p.K + "=" + p.V
	}
	if len(spec.ctParams) > 0 {
		ct.Address.UriParams = append(slices.Clone(ct.Address.UriParams), spec.ctParams...)
	}
	req.AppendHeader(&ct)
	callID := sip.CallIDHeader(c.ID)
	req.AppendHeader(&callID)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	req.AppendHeader(sip.NewHeader("User-Agent", e.cfg.UserAgent))
	for _, h := range spec.headers {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer.Marshal())
	req.SetTransport(spec.transport)
	req.SetDestination(spec.hop)
	if spec.transport == "UDP" {
		req.Laddr = e.listenAddr()
	}

	dua := &sipgo.DialogUA{Client: e.cli, ContactHDR: ct, RewriteContact: spec.rewrite}
	var dlg *sipgo.DialogClientSession
	early := false
	for attempt := 0; ; attempt++ {
		dlg, err = dua.WriteInvite(ctx, req)
		if err == nil {
			spec.leg.invited(dlg.InviteRequest)
			if attempt == 0 {
				e.trace.noteDomain(c.ID, spec.domain)
			}
			err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
				if spec.onHeard != nil {
					spec.onHeard()
				}
				if r.IsProvisional() {
					spec.leg.provisional()
				}
				if !r.IsProvisional() || r.StatusCode == 100 {
					return nil
				}
				if !early && len(r.Body()) > 0 && spec.onEarly != nil {
					if err := c.earlyAnswer(offer, r.Body()); err != nil {
						e.log.Warn("early media SDP unusable", "call", req.CallID().Value(), "err", err)
					} else {
						early = true
						spec.onEarly(c, r.StatusCode, r.Reason)
						return nil
					}
				}
				if spec.onProgress != nil {
					spec.onProgress(r.StatusCode, r.Reason, c.ID)
				}
				return nil
			}})
		}
		var de *sipgo.ErrDialogResponse
		if attempt == 0 && errors.As(err, &de) && (de.Res.StatusCode == 401 || de.Res.StatusCode == 407) && spec.auth != nil {
			if aerr := applyDigest(req, de.Res, spec.auth); aerr != nil {
				break
			}
			req.RemoveHeader("Via")
			req.CSeq().SeqNo++
			continue
		}
		break
	}
	if err != nil {
		sess.Close()
		// The leg never was: its context would stay among the engine's
		// children until shutdown, one per refused or unanswered call.
		c.cancel(err)
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return nil, &DialError{Code: de.Res.StatusCode, Reason: de.Res.Reason}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("engine: call cancelled: %w", ctx.Err())
		}
		return nil, &DialError{Code: 503, Reason: "no answer: " + err.Error()}
	}
	c.mu.Lock()
	c.req = dlg.InviteRequest
	c.cdlg = dlg
	c.key = dlg.ID
	c.answered = time.Now()
	c.mu.Unlock()
	e.calls.add(c)

	ans, err := sdp.Parse(dlg.InviteResponse.Body())
	var neg sdp.Negotiated
	if err == nil {
		neg, err = sdp.Negotiate(offer, ans)
	}
	if err == nil {
		if err = sess.Apply(neg); err == nil {
			err = sess.Start()
		}
	}
	if ackErr := dlg.Ack(ctx); ackErr != nil && err == nil {
		err = ackErr
	}
	if err != nil {
		// RFC 3264 §6: an unusable answer; ACK, then end the call.
		c.end(CauseFailed, true)
		return nil, fmt.Errorf("engine: answer unusable: %w", err)
	}
	c.mu.Lock()
	c.neg, c.remote = neg, ans
	c.mu.Unlock()
	e.recordCall(c, "")
	return c, nil
}
