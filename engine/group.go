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
}

// Group is a ring group: ExtensionNumber rings Members by RingStrategy.
type Group struct {
	ID               string        `json:"id"`
	GroupName        string        `json:"groupName"`
	DisplayName      string        `json:"displayName,omitempty"`
	ExtensionNumber  string        `json:"extensionNumber"`
	RingStrategy     string        `json:"ringStrategy,omitempty"` // RingAll (default) or RingHuntLongestIdle
	RingSecs         int           `json:"ringSecs,omitempty"`     // per member (hunt) or per round (all); default 20
	RingAttempts     int           `json:"ringAttempts,omitempty"` // rounds through the members; default 1
	CallerNameFormat string        `json:"callerNameFormat,omitempty"`
	Members          []GroupMember `json:"members,omitempty"`
}

// GroupMember is a user of a group and its place in the ringing order.
type GroupMember struct {
	UserID    string `json:"userId"`
	RingOrder int    `json:"ringOrder,omitempty"` // lowest rings first
}

var extensionPattern = regexp.MustCompile(`^[0-9*#]{1,16}$`)

func validateExtension(n string) error {
	if !extensionPattern.MatchString(n) {
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

var nameVar = regexp.MustCompile(`\{[^}]*\}`)

// checkCallerNameFormat allows the variables the hosted PBX API names.
func checkCallerNameFormat(f string) error {
	for _, v := range nameVar.FindAllString(f, -1) {
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

// Extension implements PBXDirectory from the store's users and groups.
func (d StoreDirectory) Extension(domain, number string) (*Extension, error) {
	users := map[string]User{}
	var found *Extension
	err := d.each(domain, ResUser, func(id string, b []byte) error {
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
	if err != nil || found != nil {
		return found, err
	}
	err = d.each(domain, ResGroup, func(id string, b []byte) error {
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
	for _, m := range found.Group.Members {
		if u, ok := users[m.UserID]; ok {
			found.Members = append(found.Members, u)
		}
	}
	return found, nil
}

// pbxState tracks, per device, whether it is in a call and since when it
// is idle: huntLongestIdle rings the longest idle member first and skips
// busy ones; device_call_session limits the count. Calls the device placed
// count from their INVITE, calls delivered to it from the answer.
type pbxState struct {
	mu   sync.Mutex
	idle map[string]time.Time // key -> end of its last call; absent: never called
	live map[string]int       // key -> calls in progress
}

func busyKey(domain, device string) string { return domain + "\x00" + device }

// busy marks key in a call until c ends.
func (p *pbxState) busy(key string, c *Call) {
	p.acquire(key, 0)
	c.onEnd(func() { p.release(key) })
}

// acquire marks key in one more call unless it has max already (0: no
// maximum), and says whether it did.
func (p *pbxState) acquire(key string, max int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live == nil {
		p.live, p.idle = map[string]int{}, map[string]time.Time{}
	}
	if max > 0 && p.live[key] >= max {
		return false
	}
	p.live[key]++
	return true
}

// release ends one call of key: it is idle from now when it has no other.
func (p *pbxState) release(key string) {
	p.mu.Lock()
	if p.live[key]--; p.live[key] <= 0 {
		delete(p.live, key)
	}
	p.idle[key] = time.Now()
	p.mu.Unlock()
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
// a DialError.
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
		bs := e.reg.lookup(domain, ext.User.User)
		if len(bs) == 0 {
			return base, true, &DialError{Code: 480, Reason: "extension " + called + " (user " + ext.User.ID + ") has no registered device"}
		}
		if e.deviceAtLimit(domain, busyKey(domain, deviceOf(bs[0]))) {
			return base, true, &DialError{Code: 503, Reason: "device " + ext.User.User + " has its " + LimitDeviceSessions + " calls in progress"}
		}
		legs, err := e.deviceLegs(base, bs)
		if err != nil {
			return base, true, err
		}
		base.plan = []ringStage{{legs: legs}}
		return base, true, nil
	}
	g := ext.Group
	base.name = g.callerName(base.name, base.from)
	plan, err := e.groupPlan(base, domain, g, ext.Members)
	if err != nil {
		return base, true, err
	}
	base.plan = plan
	return base, true, nil
}

// groupPlan is the ringing plan of group g: with RingAll each attempt
// rings every free member's registrations at once for ringSecs; with
// RingHuntLongestIdle each attempt rings the free members one after the
// other, longest idle first (never called counts as longest; ties by
// ringOrder, then the group's order), ringSecs each. A member in a call or
// without registration is skipped; ringAttempts is how many rounds ring. The order is fixed when the call arrives: with every member
// busy or unregistered the call is refused at once (486, or 480).
func (e *Engine) groupPlan(base dialSpec, domain string, g *Group, users []User) ([]ringStage, error) {
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
		in, idle := e.pbx.state(busyKey(domain, u.User))
		ms = append(ms, member{user: u, idle: idle, busy: in, order: order[u.ID]})
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
	c.Route = "extension/" + c.Called
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
