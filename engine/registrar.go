package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/store"
)

// Registration limits (RFC 3261 §10.3 step 7: the registrar may shorten
// expiry and must answer 423 with Min-Expires below its minimum).
const (
	minExpires     = 60
	maxExpires     = 7200
	defaultExpires = 3600
	maxContacts    = 10
)

// registrar keeps the bindings of devices that registered with the gateway.
// Memory is what calls read: a binding is there before the REGISTER's 200
// goes, so a call placed on that 200 reaches the device. Changes are
// written to the store in batches (one transaction per burst, a group
// commit) and the 200 waits for the batch that holds its change, so a
// binding answered 200 survives a crash; they are read back by load on
// start. A batch the disk refuses is kept for the next one, and the
// REGISTER is still answered 200 (the binding is live in memory; the
// gateway's store-unwritable alert says the disk is the trouble).
type registrar struct {
	e  *Engine
	mu sync.RWMutex
	m  map[string][]store.Binding // domain NUL aor

	pmu   sync.Mutex
	put   map[string]store.Binding // by Binding.Key
	del   map[string]store.Binding
	saved chan struct{} // closed once the pending changes were written
	kick  chan struct{}
}

// bindingSaveWait bounds how long a REGISTER waits for its binding's write.
const bindingSaveWait = 5 * time.Second

func newRegistrar(e *Engine) *registrar {
	return &registrar{
		e: e, m: map[string][]store.Binding{},
		put: map[string]store.Binding{}, del: map[string]store.Binding{},
		saved: make(chan struct{}), kick: make(chan struct{}, 1),
	}
}

func aorKey(domain, aor string) string { return domain + "\x00" + aor }

func (r *registrar) load() error {
	if r.e.db == nil {
		return nil
	}
	now := time.Now()
	// Bindings that expired while the gateway was down are never loaded,
	// so expire would never remove them: they go here.
	if n, err := r.e.db.PurgeBindings(now); err != nil {
		r.e.log.Warn("expired bindings not purged", "err", err)
	} else if n > 0 {
		r.e.log.Info("expired bindings purged", "n", n)
	}
	bs, err := r.e.db.Bindings(now)
	if err != nil {
		return err
	}
	r.mu.Lock()
	for _, b := range bs {
		k := aorKey(b.Domain, b.AOR)
		r.m[k] = append(r.m[k], b)
	}
	r.mu.Unlock()
	if len(bs) > 0 {
		r.e.log.Info("bindings restored", "n", len(bs))
	}
	return nil
}

// Bindings returns the live contacts of an address of record.
func (e *Engine) Bindings(domain, aor string) []store.Binding {
	return e.reg.lookup(domain, aor)
}

func (r *registrar) lookup(domain, aor string) []store.Binding {
	now := time.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []store.Binding
	for _, b := range r.m[aorKey(domain, aor)] {
		if b.Expires.After(now) {
			out = append(out, b)
		}
	}
	return out
}

// run expires bindings and writes pending changes until ctx ends; then it
// writes what is left.
func (r *registrar) run(ctx context.Context) {
	expire := time.NewTicker(5 * time.Second)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			r.flush()
			return
		case <-r.kick:
			// Let a burst gather: one transaction for many registrations.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
			r.flush()
		case <-expire.C:
			r.expire(time.Now())
		}
	}
}

func (r *registrar) expire(now time.Time) {
	r.mu.Lock()
	var gone []store.Binding
	for k, bs := range r.m {
		keep := bs[:0]
		for _, b := range bs {
			if b.Expires.After(now) {
				keep = append(keep, b)
			} else {
				gone = append(gone, b)
			}
		}
		if len(keep) == 0 {
			delete(r.m, k)
		} else {
			r.m[k] = keep
		}
	}
	r.mu.Unlock()
	if len(gone) > 0 {
		r.queue(nil, gone)
	}
}

// queue hands the changes to the store writer; the channel it returns is
// closed once the batch holding them was written (at once without a store).
func (r *registrar) queue(put, del []store.Binding) <-chan struct{} {
	for _, b := range put {
		r.e.emit(Event{Type: EventRegistration, Domain: b.Domain, AOR: b.AOR, Contact: b.Contact, Expires: b.Expires,
			Source: b.Source, Transport: b.Transport, UserAgent: b.UserAgent})
	}
	for _, b := range del {
		r.e.emit(Event{Type: EventUnregistration, Domain: b.Domain, AOR: b.AOR, Contact: b.Contact, Source: b.Source, Transport: b.Transport})
	}
	if r.e.db == nil || len(put)+len(del) == 0 {
		return closedChan
	}
	r.pmu.Lock()
	for _, b := range put {
		k := b.Key()
		delete(r.del, k)
		r.put[k] = b
	}
	for _, b := range del {
		k := b.Key()
		delete(r.put, k)
		r.del[k] = b
	}
	saved := r.saved
	r.pmu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return saved
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// awaitSaved waits (bounded) for the write queue promised.
func (r *registrar) awaitSaved(saved <-chan struct{}) {
	select {
	case <-saved:
	case <-r.e.ctx.Done():
	case <-time.After(bindingSaveWait):
		r.e.log.Warn("REGISTER answered before its binding was written", "after", bindingSaveWait.String())
	}
}

func (r *registrar) flush() {
	if r.e.db == nil {
		return
	}
	r.pmu.Lock()
	put := make([]store.Binding, 0, len(r.put))
	del := make([]store.Binding, 0, len(r.del))
	for _, b := range r.put {
		put = append(put, b)
	}
	for _, b := range r.del {
		del = append(del, b)
	}
	clear(r.put)
	clear(r.del)
	saved := r.saved
	r.saved = make(chan struct{})
	r.pmu.Unlock()
	defer close(saved)
	if err := r.e.db.SaveBindings(put, del); err != nil {
		r.e.log.Error("bindings not saved", "n", len(put)+len(del), "err", err)
		// Kept for the next batch, unless a newer change of the same
		// contact came meanwhile.
		r.pmu.Lock()
		for _, b := range put {
			if _, ok := r.del[b.Key()]; !ok {
				if _, ok := r.put[b.Key()]; !ok {
					r.put[b.Key()] = b
				}
			}
		}
		for _, b := range del {
			if _, ok := r.put[b.Key()]; !ok {
				r.del[b.Key()] = b
			}
		}
		r.pmu.Unlock()
	}
}

// trusted says whether src is in a trusted network of domain. Nothing is
// trusted by default, loopback included: trust comes only from the
// domain's trustednetwork documents.
func (e *Engine) trusted(domain, src string) bool {
	ip, ok := addrOf(src)
	if !ok {
		return false
	}
	nets, err := e.dir.TrustedNetworks(domain)
	if err != nil {
		e.log.Warn("trusted networks unreadable", "domain", domain, "err", err)
		return false
	}
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// principal is who sent a request once it passed authentication.
type principal struct {
	trusted bool
	dev     *Device // nil for a trusted source with no device of that name
}

// alarmOnly says the principal may reach alarm services only: a deviceid
// device outside a trusted network, known by its From user alone (a
// whitelist entry, not a secret), must not call trunks or other devices.
func (p principal) alarmOnly() bool {
	return !p.trusted && p.dev != nil && p.dev.AuthType == "deviceid"
}

// authenticate decides whether req from user may proceed. When it may not,
// it has already answered (401 with a challenge, 403) and returns false.
//
// The rules (as Kamailio and OpenSIPS deployments set them): a source in a
// trusted network may send INVITE and MESSAGE without digest; a REGISTER is
// always challenged, except that of a deviceid device from a trusted
// network (it has no secret to answer with); a deviceid device elsewhere
// is let in by its From user for alarm services only (alarmOnly). A user
// that does not exist, or cannot answer a challenge, is challenged exactly
// like a known user and then refused like a wrong password (a decoy
// credential), so the answers do not tell which users exist. Digest
// failures are limited per source address and per user (failLimiter).
func (e *Engine) authenticate(req *sip.Request, tx sip.ServerTransaction, domain, user string, register bool) (principal, bool) {
	dev, err := e.dir.Device(domain, user)
	if err != nil && !errors.Is(err, ErrNotFound) {
		e.log.Error("device lookup failed", "domain", domain, "err", err)
		e.respond(tx, req, 500, "Server Internal Error")
		return principal{}, false
	}
	trusted := e.trusted(domain, req.Source())
	if trusted && (!register || (dev != nil && dev.AuthType == "deviceid")) {
		return principal{trusted: true, dev: dev}, true
	}
	src, userKey := sourceIP(req), domain+"\x00"+user
	if wait := max(e.authFails.wait(src), e.authFails.wait(userKey)); wait > 0 {
		e.stats.authBlocked.Add(1)
		e.respond(tx, req, 403, "Forbidden", sip.NewHeader("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second))),
			reasonHeader(403, "too many failed authentication attempts"))
		return principal{}, false
	}
	if !register && dev != nil && dev.AuthType == "deviceid" {
		return principal{dev: dev}, true // the lookup was by From user: it is the device id
	}
	cred, ok := digestCredential(dev)
	if !ok {
		cred = e.auth.decoyCredential(domain, user)
	}
	var hv string
	if h := req.GetHeader("Authorization"); h != nil {
		hv = h.Value()
	}
	switch e.auth.verify(hv, req.Method.String(), domain, src, req.Recipient, cred) {
	case authOK:
		e.authSucceeded(domain, req.Source()) // alerts.go
	case authStale:
		e.challenge(req, tx, domain, cred.algorithms(), true)
		return principal{}, false
	case authFailed:
		e.stats.authFailures.Add(1)
		e.authFailed(domain, req.Source()) // alerts.go
		for _, k := range []string{src, userKey} {
			if e.authFails.fail(k) {
				e.edgeLog.log(slog.LevelWarn, "SIP digest failures: blocked", "key", strings.ReplaceAll(k, "\x00", "/"), "for", blockFor.String(), "source", req.Source())
			}
		}
		e.challenge(req, tx, domain, cred.algorithms(), false)
		return principal{}, false
	default:
		e.challenge(req, tx, domain, cred.algorithms(), false)
		return principal{}, false
	}
	// Policy after the secret: only who knows the password learns it.
	if dev.AuthType == "userid" {
		if register && !dev.Authorized.Register {
			e.respond(tx, req, 403, "Forbidden", reasonHeader(403, "device not authorized to register"))
			return principal{}, false
		}
		if dev.Authorized.Domain != "" && !strings.EqualFold(dev.Authorized.Domain, domain) {
			e.respond(tx, req, 403, "Forbidden", reasonHeader(403, "device authorized for another domain"))
			return principal{}, false
		}
	}
	return principal{dev: dev}, true
}

// digestCredential is what dev answers a challenge with; false when it
// cannot (no device, deviceid, no secret, a userid device without policy).
func digestCredential(dev *Device) (credential, bool) {
	if dev == nil {
		return credential{}, false
	}
	var c credential
	switch dev.AuthType {
	case "userid":
		if dev.Authorized == nil {
			return credential{}, false
		}
		c = credential{user: dev.DeviceID, password: dev.Password}
	case "credentials":
		c = credential{user: dev.DeviceID, ha1: strings.ToLower(dev.HA1), password: dev.Password}
	default:
		return credential{}, false
	}
	return c, len(c.algorithms()) > 0
}

func (e *Engine) challenge(req *sip.Request, tx sip.ServerTransaction, realm string, algs []string, stale bool) {
	res := e.newResponse(req, 401, "Unauthorized", nil)
	for _, c := range e.auth.challenges(realm, sourceIP(req), algs, stale) {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", c))
	}
	if err := tx.Respond(res); err != nil {
		e.log.Debug("401 not sent", "err", err)
	}
}

// onRegister is the registrar (RFC 3261 §10.3).
func (r *registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	e := r.e
	domain := e.domainOf(req)
	to := req.To()
	if to == nil || to.Address.User == "" {
		e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "To has no user"))
		return
	}
	aor := to.Address.User
	p, ok := e.authenticate(req, tx, domain, aor, true)
	if !ok {
		return
	}
	e.trace.noteDomain(req.CallID().Value(), domain)

	defExp := defaultExpires
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || v < 0 {
			e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "Expires is not a number"))
			return
		}
		defExp = v
	}
	callID := req.CallID().Value()
	cseq := req.CSeq().SeqNo
	now := time.Now()
	ua := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		ua = h.Value()
	}
	devID := ""
	if p.dev != nil {
		devID = p.dev.DeviceID
	}

	contacts := req.GetHeaders("Contact")
	key := aorKey(domain, aor)
	var put, del []store.Binding

	r.mu.Lock()
	cur := r.m[key]
	if len(contacts) == 1 && strings.TrimSpace(contacts[0].Value()) == "*" {
		// §10.3 step 6: "*" only with Expires: 0, removes every binding.
		if defExp != 0 {
			r.mu.Unlock()
			e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "Contact * needs Expires: 0"))
			return
		}
		del = append(del, cur...)
		delete(r.m, key)
		cur = nil
	} else {
		for _, h := range contacts {
			c, ok := h.(*sip.ContactHeader)
			if !ok {
				continue
			}
			exp := defExp
			if v, ok := c.Params.Get("expires"); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					r.mu.Unlock()
					e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "contact expires is not a number"))
					return
				}
				exp = n
			}
			if exp > 0 && exp < minExpires {
				r.mu.Unlock()
				e.respond(tx, req, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(minExpires)))
				return
			}
			exp = min(exp, maxExpires)
			uri := c.Address.String()
			idx := -1
			for i := range cur {
				if cur[i].Contact == uri {
					idx = i
				}
			}
			// §10.3 step 7: an older CSeq in the same Call-ID is out of order.
			if idx >= 0 && cur[idx].CallID == callID && cur[idx].CSeq > cseq {
				r.mu.Unlock()
				e.respond(tx, req, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"), reasonHeader(500, "out of order REGISTER"))
				return
			}
			if exp == 0 {
				if idx >= 0 {
					del = append(del, cur[idx])
					cur = append(cur[:idx], cur[idx+1:]...)
				}
				continue
			}
			b := store.Binding{
				Domain: domain, AOR: aor, Contact: uri,
				Expires: now.Add(time.Duration(exp) * time.Second),
				CallID:  callID, CSeq: cseq,
				Source: req.Source(), Transport: req.Transport(),
				UserAgent: ua, DeviceID: devID,
			}
			if idx >= 0 {
				cur[idx] = b
			} else {
				if len(cur) >= maxContacts {
					r.mu.Unlock()
					e.respond(tx, req, 403, "Forbidden", reasonHeader(403, "too many contacts"))
					return
				}
				cur = append(cur, b)
			}
			put = append(put, b)
		}
		if len(cur) == 0 {
			delete(r.m, key)
		} else {
			r.m[key] = cur
		}
	}
	live := append([]store.Binding(nil), cur...)
	r.mu.Unlock()
	// The 200 says the binding holds: on disk too, so a restart keeps it.
	r.awaitSaved(r.queue(put, del))

	res := e.newResponse(req, 200, "OK", nil)
	for _, b := range live {
		left := int(time.Until(b.Expires).Round(time.Second) / time.Second)
		res.AppendHeader(sip.NewHeader("Contact", "<"+b.Contact+">;expires="+strconv.Itoa(max(left, 0))))
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	if err := tx.Respond(res); err != nil {
		e.log.Debug("REGISTER 200 not sent", "err", err)
	}
	e.stats.registrations.Add(1)
}

// reasonHeader builds a Reason header (RFC 3326) for a SIP status.
func reasonHeader(code int, text string) sip.Header {
	return sip.NewHeader("Reason", `SIP;cause=`+strconv.Itoa(code)+`;text="`+text+`"`)
}

// sourceIP is the address a request came from, without the port (a NAT may
// change the port between a challenge and its answer).
func sourceIP(req *sip.Request) string {
	h, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return req.Source()
	}
	return h
}
