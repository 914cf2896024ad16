package engine

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/store"
)

// Users and groups of the local PBX (gateway extensions with the field
// names of a hosted PBX API): a user gives a credentials device an
// extensionNumber; a group rings its members by ringStrategy. Calling an
// extension number of a domain rings the user's device (every
// registration, fork.go) or the group's members; extensions are looked up
// before trunks, so an internal number never leaves the site.

// Resources of users and groups in the store's working configuration.
const (
	ResUser  = "user"  // id: the user id; User
	ResGroup = "group" // id: the group id; Group
)

// Ring strategies of a group.
const (
	RingAll             = "all"             // every member at once
	RingHuntLongestIdle = "huntLongestIdle" // one member at a time, the longest idle first
)

// Group defaults when a field is unset.
const (
	defaultRingSecs     = 20
	defaultRingAttempts = 1
)

// User is a PBX user: the credentials device User rings when
// ExtensionNumber is called. The descriptive fields are kept for the
// platform and have no effect here.
type User struct {
	ID              string `json:"id"`
	User            string `json:"user"` // deviceId of the domain's device
	DisplayName     string `json:"displayName,omitempty"`
	ExtensionNumber string `json:"extensionNumber"`
	// MobileNumber, when set, takes the user's missed calls (no answer
	// within RingSecs, every registration refusing, or none registered)
	// through the trunk whose destinationMatch takes it.
	MobileNumber string `json:"mobileNumber,omitempty"`
	// MobileFollow 0 keeps MobileNumber but forwards nothing; unset or 1
	// forwards (the hosted PBX API: "if specified will forward missed
	// calls").
	MobileFollow *int `json:"mobileFollow,omitempty"`
	// RingSecs (extension) is how long the user's devices ring before a
	// missed call goes to MobileNumber; default 20.
	RingSecs int `json:"ringSecs,omitempty"`
}

// forwardsToMobile says whether u's missed calls go to its mobile number.
func (u *User) forwardsToMobile() bool {
	return u.MobileNumber != "" && (u.MobileFollow == nil || *u.MobileFollow == 1)
}

// Group is a ring group: ExtensionNumber rings Members by RingStrategy.
type Group struct {
	ID               string `json:"id"`
	GroupName        string `json:"groupName"`
	DisplayName      string `json:"displayName,omitempty"`
	ExtensionNumber  string `json:"extensionNumber"`
	RingStrategy     string `json:"ringStrategy,omitempty"` // RingAll (default) or RingHuntLongestIdle
	RingSecs         int    `json:"ringSecs,omitempty"`     // per member (hunt) or per round (all); default 20
	RingAttempts     int    `json:"ringAttempts,omitempty"` // rounds through the members; default 1
	CallerNameFormat string `json:"callerNameFormat,omitempty"`
	// RingExclusive 1 queues the calls to the group (queue.go): a call
	// that finds every member busy waits, hearing ringback, until one is
	// free; callers are served in arrival order.
	RingExclusive int           `json:"ringExclusive,omitempty"`
	Members       []GroupMember `json:"members,omitempty"`
}

// GroupMember is a user of a group and its place in the ringing order.
type GroupMember struct {
	UserID    string `json:"userId"`
	RingOrder int    `json:"ringOrder,omitempty"` // lowest rings first
}

var (
	extensionPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9*#]{1,16}$`) })
	mobilePattern    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\+?[0-9]{3,20}$`) })
)

func validateExtension(n string) error {
	if !extensionPattern().MatchString(n) {
		return fmt.Errorf("extensionNumber: %q is not 1 to 16 digits (0-9, *, #)", n)
	}
	return nil
}

// Validate is the one check of a user: the REST API runs it before
// storing one and the engine before ringing one.
func (u *User) Validate() error {
	if u.User == "" {
		return errors.New("user: required (the deviceId of the device this user's extension rings)")
	}
	if u.MobileNumber != "" && !mobilePattern().MatchString(u.MobileNumber) {
		return fmt.Errorf("mobileNumber: %q is not 3 to 20 digits with an optional leading +", u.MobileNumber)
	}
	if f := u.MobileFollow; f != nil {
		if *f != 0 && *f != 1 {
			return fmt.Errorf("mobileFollow: %d is not 0 or 1", *f)
		}
		if *f == 1 && u.MobileNumber == "" {
			return errors.New("mobileFollow: 1 needs a mobileNumber to follow to")
		}
	}
	if u.RingSecs < 0 || u.RingSecs > 300 {
		return fmt.Errorf("ringSecs: %d is not 1 to 300", u.RingSecs)
	}
	return validateExtension(u.ExtensionNumber)
}

// Validate is the one check of a group.
func (g *Group) Validate() error {
	if g.GroupName == "" {
		return errors.New("groupName: required")
	}
	if err := validateExtension(g.ExtensionNumber); err != nil {
		return err
	}
	switch g.RingStrategy {
	case "", RingAll, RingHuntLongestIdle:
	default:
		return fmt.Errorf("ringStrategy: %q is not all or huntLongestIdle", g.RingStrategy)
	}
	if g.RingSecs < 0 || g.RingSecs > 300 {
		return fmt.Errorf("ringSecs: %d is not 1 to 300", g.RingSecs)
	}
	if g.RingAttempts < 0 || g.RingAttempts > 10 {
		return fmt.Errorf("ringAttempts: %d is not 1 to 10", g.RingAttempts)
	}
	if g.RingExclusive != 0 && g.RingExclusive != 1 {
		return fmt.Errorf("ringExclusive: %d is not 0 or 1", g.RingExclusive)
	}
	if err := checkCallerNameFormat(g.CallerNameFormat); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, m := range g.Members {
		if m.UserID == "" {
			return errors.New("members: a member without userId")
		}
		if seen[m.UserID] {
			return fmt.Errorf("members: user %q twice", m.UserID)
		}
		seen[m.UserID] = true
	}
	return nil
}

var nameVar = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{[^}]*\}`) })

// checkCallerNameFormat allows the variables the hosted PBX API names.
func checkCallerNameFormat(f string) error {
	for _, v := range nameVar().FindAllString(f, -1) {
		switch v {
		case "{displayName}", "{srcPhoneNumber}", "{dgrpName}":
		default:
			return fmt.Errorf("callerNameFormat: %s is not {displayName}, {srcPhoneNumber} or {dgrpName}", v)
		}
	}
	return nil
}

// callerName is the name the group's members see for a call from number
// with name.
func (g *Group) callerName(name, number string) string {
	if g.CallerNameFormat == "" {
		return name
	}
	return strings.NewReplacer("{displayName}", g.DisplayName, "{srcPhoneNumber}", number,
		"{dgrpName}", g.GroupName).Replace(g.CallerNameFormat)
}

// Extension is what an extension number of a domain names: a user, or a
// group with its members in the group's order (those that exist).
type Extension struct {
	User    *User
	Group   *Group
	Members []User
}

// PBXDirectory is the part of a Directory that knows users and groups;
// a Directory without it has no extensions.
type PBXDirectory interface {
	// Extension resolves number in domain, or returns ErrNotFound.
	Extension(domain, number string) (*Extension, error)
}

// Extension implements PBXDirectory from the store's users and groups; the
// user or group found passes Validate, the check REST runs, or is refused.
func (d StoreDirectory) Extension(domain, number string) (*Extension, error) {
	// Every call to a number asks first: that the number is no extension
	// (a trunk's or a service's number) is kept until a user or group is
	// written.
	var ext *Extension
	none, err := d.DB.Cached(store.CacheKey{Read: "engine.noextension", Domain: domain, Arg: number}, func(tx *store.Tx) (any, error) {
		var err error
		ext, err = extension(tx, domain, number)
		if errors.Is(err, ErrNotFound) {
			return true, nil
		}
		return false, err
	})
	switch {
	case err != nil:
		return nil, err
	case none.(bool):
		return nil, ErrNotFound
	case ext != nil:
		return ext, nil // just read
	}
	err = d.DB.View(func(tx *store.Tx) error {
		ext, err = extension(tx, domain, number)
		return err
	})
	return ext, err
}

func extension(tx *store.Tx, domain, number string) (*Extension, error) {
	users := map[string]User{}
	var found *Extension
	err := eachIn(tx, domain, ResUser, func(id string, b []byte) error {
		var u User
		if json.Unmarshal(b, &u) != nil {
			return nil
		}
		u.ID = id
		users[id] = u
		if u.ExtensionNumber == number && found == nil {
			found = &Extension{User: &u}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found != nil {
		// The check REST ran when it stored the user: a document written
		// past it (by hand, an older version) is refused, not half run.
		if err := found.User.Validate(); err != nil {
			return nil, fmt.Errorf("user %s/%s: %w", domain, found.User.ID, err)
		}
		return found, nil
	}
	err = eachIn(tx, domain, ResGroup, func(id string, b []byte) error {
		var g Group
		if json.Unmarshal(b, &g) != nil || found != nil || g.ExtensionNumber != number {
			return nil
		}
		g.ID = id
		found = &Extension{Group: &g}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrNotFound
	}
	if err := found.Group.Validate(); err != nil {
		return nil, fmt.Errorf("group %s/%s: %w", domain, found.Group.ID, err)
	}
	for _, m := range found.Group.Members {
		if u, ok := users[m.UserID]; ok {
			found.Members = append(found.Members, u)
		}
	}
	return found, nil
}

// pbxState tracks, per device, whether it is in a call and since when it
// is idle: huntLongestIdle rings the longest idle member first and skips
// busy ones; device_call_session limits the count; a queued call waits
// until a member frees (queue.go). Calls the device placed count from
// their INVITE, calls delivered to it from the answer. Idle times are
// kept in the store (pbxidle.go) so that the hunt order survives a
// restart.
type pbxState struct {
	mu    sync.Mutex
	idle  map[string]time.Time // key -> end of its last call; absent: never called
	live  map[string]int       // key -> calls in progress
	dirty map[string]time.Time // idle times not yet in the store
	// changed is closed (and replaced) when a device frees, so that the
	// calls queued for it look again.
	changed chan struct{}
	waiting map[string][]*queueTicket // group -> calls queued, first first (queue.go)
	taken   map[string]int            // key -> queued calls ringing it
	clock   func() time.Time          // the queue's clock; nil: time.Now (tests move it)
	alertMu sync.Mutex                // one queue backlog alert look at a time
	// alertCalls and alertWait: when a queue files AlertCallQueueBacklog
	// (WithQueueAlert).
	alertCalls int
	alertWait  time.Duration
}

func busyKey(domain, device string) string { return domain + "\x00" + device }

// busy marks key in a call until c ends.
func (p *pbxState) busy(key string, c *Call) {
	p.acquire(key, 0)
	c.onEnd(func() { p.release(key) })
}

// init makes the maps; called with mu held.
func (p *pbxState) init() {
	if p.live == nil {
		p.live, p.idle = map[string]int{}, map[string]time.Time{}
	}
	if p.dirty == nil {
		p.dirty = map[string]time.Time{}
	}
}

// acquire marks key in one more call unless it has max already (0: no
// maximum), and says whether it did.
func (p *pbxState) acquire(key string, max int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if max > 0 && p.live[key] >= max {
		return false
	}
	p.live[key]++
	return true
}

// release ends one call of key: it is idle from now when it has no other.
func (p *pbxState) release(key string) {
	p.mu.Lock()
	p.init()
	if p.live[key]--; p.live[key] <= 0 {
		delete(p.live, key)
	}
	now := time.Now()
	p.idle[key], p.dirty[key] = now, now
	p.signalLocked()
	p.mu.Unlock()
}

// watch returns a channel closed at the next change (a device freed, a
// queued call left or stopped ringing members).
func (p *pbxState) watch() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// signal wakes the watchers.
func (p *pbxState) signal() {
	p.mu.Lock()
	p.signalLocked()
	p.mu.Unlock()
}

func (p *pbxState) signalLocked() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// count is the calls key is in.
func (p *pbxState) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live[key]
}

// state says whether key is in a call and when its last call ended.
func (p *pbxState) state(key string) (inCall bool, idleSince time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live[key] > 0, p.idle[key]
}

// extensionPlan resolves called as an extension of domain into a ringing
// plan on base. ok is false when called is no extension (or no
// PBXDirectory is configured); a user or group with nothing to ring gives
// a DialError. A queued group's plan is made when the call's turn comes
// (base.queue, queue.go).
func (e *Engine) extensionPlan(base dialSpec, domain, called string) (spec dialSpec, ok bool, err error) {
	pd, isPBX := e.dir.(PBXDirectory)
	if !isPBX {
		return base, false, nil
	}
	ext, err := pd.Extension(domain, called)
	if errors.Is(err, ErrNotFound) {
		return base, false, nil
	}
	if err != nil {
		return base, true, err
	}
	if ext.User != nil {
		spec, err := e.userPlan(base, domain, ext.User)
		return spec, true, err
	}
	g := ext.Group
	base.name = g.callerName(base.name, base.from)
	if g.RingExclusive == 1 {
		if !e.anyRegistered(domain, ext.Members) {
			return base, true, &DialError{Code: 480, Reason: "no member of group " + g.GroupName + " is registered"}
		}
		base.queue = &groupQueue{domain: domain, group: g, members: ext.Members}
		return base, true, nil
	}
	plan, err := e.groupPlan(base, domain, g, ext.Members, nil)
	if err != nil {
		return base, true, err
	}
	base.plan = plan
	return base, true, nil
}

// userPlan rings user u's device on every registration; when u forwards
// missed calls, for u's ringSecs, and then (or at once when the device
// cannot ring) its mobile number through a trunk.
func (e *Engine) userPlan(base dialSpec, domain string, u *User) (dialSpec, error) {
	var plan []ringStage
	var refusal error
	bs := e.reg.lookup(domain, u.User)
	switch {
	case len(bs) == 0:
		refusal = &DialError{Code: 480, Reason: "extension " + u.ExtensionNumber + " (user " + u.ID + ") has no registered device"}
	case e.deviceAtLimit(domain, busyKey(domain, deviceOf(bs[0]))):
		refusal = &DialError{Code: 503, Reason: "device " + u.User + " has its " + LimitDeviceSessions + " calls in progress"}
	default:
		legs, err := e.deviceLegs(base, bs)
		if err != nil {
			return base, err
		}
		st := ringStage{legs: legs}
		if u.forwardsToMobile() {
			st.ringFor = time.Duration(cmp.Or(u.RingSecs, defaultRingSecs)) * time.Second
		}
		plan = append(plan, st)
	}
	if u.forwardsToMobile() {
		leg, err := e.mobileLeg(base, domain, u)
		if err != nil {
			e.log.Warn("missed call not forwarded to the mobile number", "user", u.ID, "err", err)
			if refusal == nil && len(plan) == 0 {
				refusal = err
			}
		} else {
			plan = append(plan, ringStage{legs: []dialSpec{leg}})
		}
	}
	if len(plan) == 0 {
		return base, refusal
	}
	base.plan = plan
	return base, nil
}

// mobileLeg is the leg that forwards a missed call for u to its mobile
// number, out through the trunk whose destinationMatch takes the number
// (the trunk's rules apply, as for any call out), with a Diversion header
// (RFC 5806) naming u's extension unless the trunk sets its own.
func (e *Engine) mobileLeg(base dialSpec, domain string, u *User) (dialSpec, error) {
	t, dest, err := e.trunks.outbound(domain, u.MobileNumber)
	if err != nil {
		return base, err
	}
	if t == nil {
		return base, &DialError{Code: 404, Reason: "no trunk's destinationMatch takes mobileNumber " + u.MobileNumber + " of user " + u.ID}
	}
	s := base
	s.headers = append([]sip.Header(nil), base.headers...)
	s.plan, s.queue = nil, nil
	e.trunkSpec(&s, t, dest, base.from)
	if t.cfg.DiversionHeader == "" {
		s.headers = append(s.headers, sip.NewHeader("Diversion",
			fmt.Sprintf("<sip:%s@%s>;reason=no-answer", u.ExtensionNumber, domain)))
	}
	return s, nil
}

// anyRegistered says whether a member of users has a registration.
func (e *Engine) anyRegistered(domain string, users []User) bool {
	for _, u := range users {
		if len(e.reg.lookup(domain, u.User)) > 0 {
			return true
		}
	}
	return false
}

// groupPlan is the ringing plan of group g: with RingAll each attempt
// rings every free member's registrations at once for ringSecs; with
// RingHuntLongestIdle each attempt rings the free members one after the
// other, longest idle first (never called counts as longest; ties by
// ringOrder, then the group's order), ringSecs each. A member in a call,
// taken (taken says so: ringing for a queued call) or without
// registration is skipped; ringAttempts is how many rounds ring. The order
// is fixed when the plan is made: with every member busy or unregistered
// the call is refused (486, or 480).
func (e *Engine) groupPlan(base dialSpec, domain string, g *Group, users []User, taken func(key string) bool) ([]ringStage, error) {
	ringFor := time.Duration(cmp.Or(g.RingSecs, defaultRingSecs)) * time.Second
	attempts := cmp.Or(g.RingAttempts, defaultRingAttempts)
	order := map[string]int{}
	for i, m := range g.Members {
		order[m.UserID] = m.RingOrder*1000 + i
	}
	type member struct {
		user  User
		idle  time.Time
		busy  bool
		order int
	}
	var ms []member
	for _, u := range users {
		key := busyKey(domain, u.User)
		in, idle := e.pbx.state(key)
		ms = append(ms, member{user: u, idle: idle, busy: in || (taken != nil && taken(key)), order: order[u.ID]})
	}
	slices.SortStableFunc(ms, func(a, b member) int {
		if g.RingStrategy == RingHuntLongestIdle {
			if c := a.idle.Compare(b.idle); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.order, b.order)
	})
	var plan []ringStage
	for range attempts {
		var all []dialSpec
		var round []ringStage
		for _, m := range ms {
			if m.busy {
				continue
			}
			bs := e.reg.lookup(domain, m.user.User)
			if len(bs) == 0 {
				continue
			}
			legs, err := e.deviceLegs(base, bs)
			if err != nil {
				return nil, err
			}
			if g.RingStrategy == RingHuntLongestIdle {
				round = append(round, ringStage{legs: legs, ringFor: ringFor})
			} else {
				all = append(all, legs...)
			}
		}
		if g.RingStrategy != RingHuntLongestIdle && len(all) > 0 {
			round = []ringStage{{legs: all, ringFor: ringFor}}
		}
		plan = append(plan, round...)
	}
	if len(plan) == 0 {
		for _, m := range ms {
			if m.busy {
				return nil, &DialError{Code: 486, Reason: "every member of group " + g.GroupName + " is in a call or unregistered"}
			}
		}
		return nil, &DialError{Code: 480, Reason: "no member of group " + g.GroupName + " is registered"}
	}
	return plan, nil
}

// bridgeToExtension rings the user or group whose extension the inbound
// call c dialled, and says whether c was one.
func (e *Engine) bridgeToExtension(c *Call) bool {
	base := dialSpec{domain: c.Domain, from: c.Caller, name: c.CallerName, opts: c.opts}
	spec, ok, err := e.extensionPlan(base, c.Domain, c.Called)
	if !ok {
		return false
	}
	c.setRoute("extension/" + c.Called)
	var de *DialError
	switch {
	case errors.As(err, &de):
		c.reject(de.Code, statusText(de.Code), de.Reason)
	case err != nil:
		c.reject(500, "Server Internal Error", err.Error())
	default:
		e.b2bua(c, spec)
	}
	return true
}

// onEnd runs f once c ends (at once if it has ended), before c leaves the
// call table, so that what it releases is free when the call is gone.
func (c *Call) onEnd(f func()) {
	c.mu.Lock()
	if !c.ended {
		c.atEnd = append(c.atEnd, f)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	f()
}
