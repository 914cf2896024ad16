package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// trunk is one provisioned trunk with its compiled rules and live state.
type trunk struct {
	domain    string
	cfg       Trunk
	match     *regexp.Regexp
	blacklist *regexp.Regexp
	rwRe      *regexp.Regexp
	rwRepl    string
	sources   []netip.Prefix
	dids      []didRange

	active     atomic.Int32 // calls up through this trunk
	up         atomic.Bool  // last OPTIONS keep-alive answered (true until one fails)
	registered atomic.Bool
	lastReg    atomic.Value // string: last registration outcome
	reg        regState

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type didRange struct{ lo, hi uint64 }

// parseDIDs reads "3000;12000-18000" (the PBX trunk API's did_numbers).
func parseDIDs(s string) ([]didRange, error) {
	var out []didRange
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(lo), "+"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number or a range", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(hi), "+"), 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a range LO-HI", part)
			}
		}
		out = append(out, didRange{a, b})
	}
	return out, nil
}

func (t *trunk) ownsDID(num string) bool {
	if len(t.dids) == 0 {
		return true
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(num, "+"), 10, 64)
	if err != nil {
		return false
	}
	for _, r := range t.dids {
		if n >= r.lo && n <= r.hi {
			return true
		}
	}
	return false
}

// parseRewrite reads destinationRewrite: "/pattern/replacement/" or
// "s/pattern/replacement/" (sed style, \1 or $1 for groups).
func parseRewrite(expr string) (*regexp.Regexp, string, error) {
	s := strings.TrimPrefix(expr, "s/")
	s = strings.TrimPrefix(s, "/")
	s = strings.TrimSuffix(s, "/")
	pat, repl, ok := strings.Cut(s, "/")
	if !ok {
		return nil, "", fmt.Errorf("%q is not /pattern/replacement/ (e.g. /^0/+44/)", expr)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, "", fmt.Errorf("pattern %q: %w", pat, err)
	}
	repl = sedGroup().ReplaceAllString(repl, "$${$1}")
	return re, repl, nil
}

// sedGroup is a sed-style group reference (\1) in a replacement.
var sedGroup = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\\(\d)`) })

func compileTrunk(domain string, cfg Trunk) (*trunk, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &trunk{domain: domain, cfg: cfg}
	t.match, _ = CompileMatch(cfg.DestinationMatch)
	if cfg.BlacklistPattern != "" {
		t.blacklist, _ = CompileMatch(cfg.BlacklistPattern)
	}
	if cfg.DestinationRewrite != "" {
		t.rwRe, t.rwRepl, _ = parseRewrite(cfg.DestinationRewrite)
	}
	for _, n := range cfg.SourceNetworks {
		p, _ := parsePrefix(n)
		t.sources = append(t.sources, p)
	}
	t.dids, _ = parseDIDs(cfg.DIDNumbers)
	t.up.Store(true)
	t.lastReg.Store("")
	return t, nil
}

// target is the Request-URI host:port of the trunk.
func (t *trunk) target() (string, int) {
	h, p, err := net.SplitHostPort(t.cfg.DestinationTarget)
	if err != nil {
		return t.cfg.DestinationTarget, 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// nextHop is where requests are sent: the outbound server when set.
func (t *trunk) nextHop() string {
	if t.cfg.OutboundServer != "" {
		port := t.cfg.OutboundServerPort
		if port == 0 {
			port = sip.DefaultPort(t.transport())
		}
		return net.JoinHostPort(t.cfg.OutboundServer, strconv.Itoa(port))
	}
	h, p := t.target()
	if p == 0 {
		p = sip.DefaultPort(t.transport())
	}
	return net.JoinHostPort(h, strconv.Itoa(p))
}

func (t *trunk) transport() string {
	switch strings.ToLower(t.cfg.DestinationTransport) {
	case "tcp":
		return "TCP"
	case "tls":
		return "TLS"
	}
	return "UDP"
}

// fromNetwork says whether a request from ip:port comes from this trunk:
// its sourceNetworks, or (none given) the address and port it is reached
// at (its target or outbound proxy), as a symmetric SIP peer sends from.
func (t *trunk) fromNetwork(ip netip.Addr, port int) bool {
	if len(t.sources) > 0 {
		for _, p := range t.sources {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	h, p := t.target()
	if p == 0 {
		p = sip.DefaultPort(t.transport())
	}
	for _, hp := range []string{t.nextHop(), net.JoinHostPort(h, strconv.Itoa(p))} {
		if ap, err := netip.ParseAddrPort(hp); err == nil && ap.Addr().Unmap() == ip && int(ap.Port()) == port {
			return true
		}
	}
	return false
}

// TrunkStatus is the live state of a trunk, for /healthz and the console.
type TrunkStatus struct {
	Domain       string `json:"domain"`
	TrunkID      string `json:"trunkId"`
	Up           bool   `json:"up"`
	Registered   bool   `json:"registered"`
	Registration string `json:"registration,omitempty"` // last outcome
	ActiveCalls  int    `json:"activeCalls"`
	Concurrency  int    `json:"concurrency"`
}

// trunkSet keeps the provisioned trunks in step with the directory and runs
// their registration and keep-alive loops.
type trunkSet struct {
	e      *Engine
	mu     sync.RWMutex
	trunks map[string][]*trunk // by domain, provisioned order
	reload chan struct{}
}

func newTrunkSet(e *Engine) *trunkSet {
	return &trunkSet{e: e, trunks: map[string][]*trunk{}, reload: make(chan struct{}, 1)}
}

// ReloadTrunks re-reads the trunks from the directory now (call it after a
// trunk document changed); otherwise they are re-read every 10 s.
func (e *Engine) ReloadTrunks() {
	if e.trunks == nil {
		return
	}
	select {
	case e.trunks.reload <- struct{}{}:
	default:
	}
}

// TrunkStatus lists the state of every trunk.
func (e *Engine) TrunkStatus() []TrunkStatus {
	if e.trunks == nil {
		return nil
	}
	e.trunks.mu.RLock()
	defer e.trunks.mu.RUnlock()
	var out []TrunkStatus
	for d, ts := range e.trunks.trunks {
		for _, t := range ts {
			out = append(out, TrunkStatus{
				Domain: d, TrunkID: t.cfg.TrunkID, Up: t.up.Load(),
				Registered: t.registered.Load(), Registration: t.lastReg.Load().(string),
				ActiveCalls: int(t.active.Load()), Concurrency: t.cfg.Concurrency,
			})
		}
	}
	return out
}

func (s *trunkSet) run(ctx context.Context) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	s.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.reload:
		}
		s.sync(ctx)
	}
}

// sync starts loops for new or changed trunks and stops removed ones.
func (s *trunkSet) sync(ctx context.Context) {
	domains, err := s.e.dir.Domains()
	if err != nil {
		s.e.log.Warn("trunks: domains unreadable", "err", err)
		return
	}
	next := map[string][]*trunk{}
	s.mu.RLock()
	old := s.trunks
	s.mu.RUnlock()
	keep := map[*trunk]bool{}
	for _, d := range domains {
		cfgs, err := s.e.dir.Trunks(d)
		if err != nil {
			s.e.log.Warn("trunks unreadable", "domain", d, "err", err)
			next[d] = old[d]
			for _, t := range old[d] {
				keep[t] = true
			}
			continue
		}
		for _, cfg := range cfgs {
			var cur *trunk
			for _, t := range old[d] {
				if t.cfg.TrunkID == cfg.TrunkID && reflect.DeepEqual(t.cfg, cfg) {
					cur = t
				}
			}
			if cur == nil {
				t, err := compileTrunk(d, cfg)
				if err != nil {
					s.e.log.Warn("trunk skipped", "domain", d, "trunk", cfg.TrunkID, "err", err)
					continue
				}
				s.start(ctx, t)
				cur = t
			}
			keep[cur] = true
			next[d] = append(next[d], cur)
		}
	}
	s.mu.Lock()
	s.trunks = next
	s.mu.Unlock()
	for _, ts := range old {
		for _, t := range ts {
			if !keep[t] {
				s.stopTrunk(t, true)
			}
		}
	}
}

func (s *trunkSet) start(ctx context.Context, t *trunk) {
	tctx, cancel := context.WithCancel(ctx)
	t.stop = cancel
	if t.cfg.registers() {
		t.wg.Add(1)
		go func() { defer t.wg.Done(); s.registerLoop(tctx, t) }()
	}
	if t.cfg.keepAlive() {
		t.wg.Add(1)
		go func() { defer t.wg.Done(); s.keepAliveLoop(tctx, t) }()
	}
	s.e.log.Info("trunk started", "domain", t.domain, "trunk", t.cfg.TrunkID, "target", t.cfg.DestinationTarget,
		"register", t.cfg.registers(), "keepAlive", t.cfg.keepAlive())
}

func (s *trunkSet) stopTrunk(t *trunk, unregister bool) {
	if t.stop != nil {
		t.stop()
	}
	t.wg.Wait()
	if unregister && t.registered.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = s.register(ctx, t, 0)
		cancel()
	}
}

// shutdown stops every loop and unregisters (Expires: 0) in parallel.
func (s *trunkSet) shutdown() {
	s.mu.Lock()
	all := s.trunks
	s.trunks = map[string][]*trunk{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, ts := range all {
		for _, t := range ts {
			wg.Add(1)
			go func() { defer wg.Done(); s.stopTrunk(t, true) }()
		}
	}
	wg.Wait()
}

func (s *trunkSet) registerLoop(ctx context.Context, t *trunk) {
	backoff := 5 * time.Second
	for {
		granted, err := s.register(ctx, t, t.cfg.registerInterval())
		if ctx.Err() != nil {
			// Stopping cut the refresh short: the registrar's binding is
			// as it was, so registered stays as it was and stopTrunk
			// unregisters it (no no-carrier alert for a shutdown).
			return
		}
		wait := backoff
		if err != nil {
			t.registered.Store(false)
			t.lastReg.Store(err.Error())
			s.e.raise(t.domain, AlertNoCarrier, "register/"+t.cfg.TrunkID, "trunk "+t.cfg.TrunkID+" is not registered", err.Error())
			s.e.log.Warn("trunk registration failed", "trunk", t.cfg.TrunkID, "err", err, "retry", wait)
			backoff = min(backoff*2, 5*time.Minute)
		} else {
			t.registered.Store(true)
			t.lastReg.Store("registered")
			s.e.clearAlert(t.domain, AlertNoCarrier, "register/"+t.cfg.TrunkID, "trunk "+t.cfg.TrunkID+" is registered again")
			backoff = 5 * time.Second
			// Refresh ahead of expiry (RFC 3261 §10.2.4 leaves the margin to us).
			wait = max(granted*8/10, granted-30*time.Second, time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// regState is a trunk's registration toward its registrar (RFC 3261
// §10.2): one Call-ID and From tag for every REGISTER, refreshes and the
// unregister included, a CSeq that only grows, and the last digest
// challenge, answered again on a refresh with the next nonce count so a
// refresh costs no 401 round trip (RFC 7616 §3.4).
type regState struct {
	mu      sync.Mutex
	callID  string
	fromTag string
	cseq    uint32
	chal    *digest.Challenge
	proxy   bool // chal came with a 407
	nc      int
}

// stamp gives req the registration's Call-ID, From tag and next CSeq.
func (r *regState) stamp(req *sip.Request) {
	if r.callID == "" {
		r.callID = sip.GenerateTagN(24)
		r.fromTag = sip.GenerateTagN(16)
	}
	r.cseq++
	req.From().Params.Add("tag", r.fromTag)
	req.RemoveHeader("Call-ID")
	id := sip.CallIDHeader(r.callID)
	req.AppendHeader(&id)
	req.RemoveHeader("CSeq")
	req.AppendHeader(&sip.CSeqHeader{SeqNo: r.cseq, MethodName: sip.REGISTER})
}

// register sends one REGISTER and returns the expiry the registrar
// granted. It answers with the last challenge when it has one, and answers
// one new challenge.
func (s *trunkSet) register(ctx context.Context, t *trunk, expires time.Duration) (time.Duration, error) {
	host, port := t.target()
	aor := sip.Uri{Scheme: "sip", User: t.cfg.UserName, Host: host}
	req, ct := s.e.registerRequest(sip.Uri{Scheme: "sip", Host: host, Port: port}, aor, t.transport(), expires)
	auth := &authInfo{user: t.cfg.UserName, password: t.cfg.Password, ha1: t.cfg.HA1}
	r := &t.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stamp(req)
	if r.chal != nil {
		r.nc++
		if err := authorize(req, r.chal, r.proxy, auth, r.nc); err != nil {
			return 0, err
		}
	}
	res, err := s.e.request(ctx, req, t.transport(), t.nextHop(), nil)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && auth.canAnswer() {
		// A first challenge, or the registrar no longer takes the last one
		// (stale nonce): answer this one with nc 1.
		if r.chal, err = pickChallenge(res, auth); err != nil {
			return 0, err
		}
		r.proxy, r.nc = res.StatusCode == 407, 1
		r.cseq++
		req.CSeq().SeqNo = r.cseq
		req.RemoveHeader("Via")
		if err = authorize(req, r.chal, r.proxy, auth, r.nc); err != nil {
			return 0, err
		}
		res, err = s.e.cli.Do(ctx, req, sipgo.ClientRequestAddVia)
	}
	if err != nil {
		return 0, err
	}
	if res.StatusCode == 401 || res.StatusCode == 407 {
		r.chal = nil
	}
	if !res.IsSuccess() {
		return 0, fmt.Errorf("registrar answered %d %s", res.StatusCode, res.Reason)
	}
	granted := expires
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			granted = time.Duration(n) * time.Second
		}
	}
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok && c.Address.Host == ct.Address.Host && c.Address.Port == ct.Address.Port {
			if v, ok := c.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					granted = time.Duration(n) * time.Second
				}
			}
		}
	}
	return granted, nil
}

// registerRequest is a REGISTER of aor at ruri asking for expires, with
// the engine's Contact for transport under the AOR's user.
func (e *Engine) registerRequest(ruri, aor sip.Uri, transport string, expires time.Duration) (*sip.Request, sip.ContactHeader) {
	req := sip.NewRequest(sip.REGISTER, ruri)
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	ct := e.contact(transport)
	ct.Address.User = aor.User
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	req.AppendHeader(sip.NewHeader("User-Agent", e.cfg.UserAgent))
	return req, ct
}

// keepAliveLoop sends OPTIONS every keepAliveInterval; any response marks
// the trunk up, a timeout or transport error marks it down (RFC 3261 §11:
// an OPTIONS answered at all proves the peer is there).
func (s *trunkSet) keepAliveLoop(ctx context.Context, t *trunk) {
	for {
		up := s.ping(ctx, t)
		if ctx.Err() != nil {
			return
		}
		if was := t.up.Swap(up); was != up {
			s.e.log.Warn("trunk keep-alive", "domain", t.domain, "trunk", t.cfg.TrunkID, "up", up)
		}
		if up {
			s.e.clearAlert(t.domain, AlertNoCarrier, "keepalive/"+t.cfg.TrunkID, "trunk "+t.cfg.TrunkID+" answers its keep-alive again")
		} else {
			s.e.raise(t.domain, AlertNoCarrier, "keepalive/"+t.cfg.TrunkID, "trunk "+t.cfg.TrunkID+" does not answer its keep-alive (OPTIONS)", "")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.cfg.keepAliveInterval()):
		}
	}
}

func (s *trunkSet) ping(ctx context.Context, t *trunk) bool {
	host, port := t.target()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: port})
	req.AppendHeader(sip.NewHeader("User-Agent", s.e.cfg.UserAgent))
	// Timer F (64*T1) bounds a transaction; a shorter interval bounds the wait.
	ctx, cancel := context.WithTimeout(ctx, min(32*time.Second, t.cfg.keepAliveInterval()))
	defer cancel()
	res, err := s.e.request(ctx, req, t.transport(), t.nextHop(), nil)
	return err == nil && res != nil && res.StatusCode != 408 && res.StatusCode != 503
}

// fromSource is the trunk of domain whose sourceNetworks hold src, or nil.
func (s *trunkSet) fromSource(domain, src string) *trunk {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return nil
	}
	ip := ap.Addr().Unmap()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.trunks[domain] {
		if t.fromNetwork(ip, int(ap.Port())) {
			return t
		}
	}
	return nil
}

// routeError carries the SIP answer for a call no trunk could take.
type routeError struct {
	code   int
	reason string
	text   string
}

func (r *routeError) Error() string { return r.text }

// outbound picks the trunk for a called number: the first (in provisioned
// order) whose destinationMatch matches, that does not blacklist it, is up
// and below its concurrency limit. It returns the rewritten destination.
// No match at all is (nil, "", nil): the call goes on to local devices.
func (s *trunkSet) outbound(domain, called string) (*trunk, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var why *routeError
	for _, t := range s.trunks[domain] {
		if !t.match.MatchString(called) {
			continue
		}
		if t.blacklist != nil && t.blacklist.MatchString(called) {
			why = &routeError{403, "Forbidden", "destination blocked by blacklistPattern of trunk " + t.cfg.TrunkID}
			continue
		}
		if !t.up.Load() {
			why = &routeError{503, "Service Unavailable", "trunk " + t.cfg.TrunkID + " is down (keep-alive)"}
			continue
		}
		if t.cfg.registers() && !t.registered.Load() {
			why = &routeError{503, "Service Unavailable", "trunk " + t.cfg.TrunkID + " is not registered"}
			continue
		}
		if t.cfg.Concurrency > 0 && int(t.active.Load()) >= t.cfg.Concurrency {
			why = &routeError{503, "Service Unavailable", "trunk " + t.cfg.TrunkID + " is at its concurrency limit"}
			continue
		}
		dest := called
		if t.rwRe != nil {
			dest = t.rwRe.ReplaceAllString(called, t.rwRepl)
		}
		return t, dest, nil
	}
	if why != nil {
		return nil, "", why
	}
	return nil, "", nil
}

// acquire takes a call slot on the trunk, false when it is full.
func (t *trunk) acquire() bool {
	for {
		n := t.active.Load()
		if t.cfg.Concurrency > 0 && int(n) >= t.cfg.Concurrency {
			return false
		}
		if t.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (t *trunk) release() { t.active.Add(-1) }

// authInfo answers a digest challenge with a password or a stored HA1.
type authInfo struct {
	user, password, ha1 string
}

// passwordAuth answers a challenge with password as user (as dflt when
// user is empty); nil without a password.
func passwordAuth(user, password, dflt string) *authInfo {
	if password == "" {
		return nil
	}
	if user == "" {
		user = dflt
	}
	return &authInfo{user: user, password: password}
}

// request sends an out-of-dialog request to hop over transport and waits
// for the final response, answering one 401/407 challenge when auth is set.
func (e *Engine) request(ctx context.Context, req *sip.Request, transport, hop string, auth *authInfo) (*sip.Response, error) {
	req.SetTransport(transport)
	req.SetDestination(hop)
	if transport == "UDP" {
		req.Laddr = e.listenAddr() // leave from the listening port
	}
	res, err := e.cli.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && auth.canAnswer() {
		if err := applyDigest(req, res, auth); err != nil {
			return nil, err
		}
		req.RemoveHeader("Via")
		req.CSeq().SeqNo++
		res, err = e.cli.Do(ctx, req, sipgo.ClientRequestAddVia)
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (a *authInfo) canAnswer() bool { return a != nil && (a.password != "" || a.ha1 != "") }

// applyDigest adds Authorization (or Proxy-Authorization) for the
// challenge in res (RFC 3261 §22.2, RFC 8760 algorithms).
func applyDigest(req *sip.Request, res *sip.Response, auth *authInfo) error {
	chal, err := pickChallenge(res, auth)
	if err != nil {
		return err
	}
	return authorize(req, chal, res.StatusCode == 407, auth, 0)
}

// pickChallenge is the first challenge of res that auth can answer.
func pickChallenge(res *sip.Response, auth *authInfo) (*digest.Challenge, error) {
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	var chal *digest.Challenge
	// Take the first challenge we can answer (SHA-256 comes first, RFC 8760 §2.4).
	for _, h := range res.GetHeaders(name) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		c.Algorithm = strings.ToUpper(c.Algorithm)
		if auth.password == "" && !ha1Fits(auth.ha1, c.Algorithm) {
			continue
		}
		if digest.CanDigest(c) {
			chal = c
			break
		}
	}
	if chal == nil {
		return nil, errors.New("no digest challenge we can answer")
	}
	return chal, nil
}

// authorize answers chal for req as auth with nonce count nc (0 is 1).
// The digest uri is the Request-URI as sent, parameters included (RFC 2617
// §3.2.2.5): a server compares the two.
func authorize(req *sip.Request, chal *digest.Challenge, proxy bool, auth *authInfo, nc int) error {
	out := "Authorization"
	if proxy {
		out = "Proxy-Authorization"
	}
	opts := digest.Options{Method: req.Method.String(), URI: req.Recipient.String(), Username: auth.user, Count: nc}
	if auth.password != "" {
		opts.Password = auth.password
	} else {
		opts.A1 = strings.ToLower(auth.ha1)
	}
	cred, err := digest.Digest(chal, opts)
	if err != nil {
		return err
	}
	req.RemoveHeader(out)
	req.AppendHeader(sip.NewHeader(out, cred.String()))
	return nil
}

func ha1Fits(ha1, alg string) bool {
	switch alg {
	case "", "MD5":
		return len(ha1) == 32
	case "SHA-256":
		return len(ha1) == 64
	}
	return false
}

// Register registers user at registrar ("sip:host[:port][;transport=tcp]")
// once, answering a digest challenge with password, and returns the expiry
// granted. Expires 0 unregisters. This is what a device does; simulate uses
// it to play one.
func (e *Engine) Register(ctx context.Context, registrar, user, password string, expires time.Duration) (time.Duration, error) {
	if e.ua == nil {
		return 0, errors.New("engine: Register before Start")
	}
	var u sip.Uri
	if err := sip.ParseUri(registrar, &u); err != nil {
		return 0, fmt.Errorf("engine: registrar %q: %w", registrar, err)
	}
	hop, transport := uriTarget(u)
	aor := sip.Uri{Scheme: "sip", User: user, Host: u.Host}
	req, ct := e.registerRequest(sip.Uri{Scheme: "sip", Host: u.Host, Port: u.Port}, aor, transport, expires)
	res, err := e.request(ctx, req, transport, hop, passwordAuth(user, password, user))
	if err != nil {
		return 0, err
	}
	if !res.IsSuccess() {
		return 0, &DialError{Code: res.StatusCode, Reason: res.Reason}
	}
	granted := expires
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok && c.Address.User == user && c.Address.Host == ct.Address.Host && c.Address.Port == ct.Address.Port {
			if v, ok := c.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					granted = time.Duration(n) * time.Second
				}
			}
		}
	}
	return granted, nil
}
