package engine

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/store"
)

// Call limits of a domain (the "limit" documents, category and quantity
// after a CPaaS API's Limits): beyond them a new call is answered 503 with
// Retry-After before it rings anything, the way the overload shedder
// answers. Trunk concurrency stays the trunk's own (Trunk.Concurrency).

// ResLimit is the store resource of limits: id = category.
const ResLimit = "limit"

// Limit categories the engine enforces.
const (
	// LimitSessions: calls in progress in the domain (the API's
	// voice_call_session).
	LimitSessions = "voice_call_session"
	// LimitDeviceSessions: calls in progress per device, placed by it or
	// delivered to it (gateway extension).
	LimitDeviceSessions = "device_call_session"
	// LimitCallRate: new calls per second from one source address
	// (gateway extension).
	LimitCallRate = "call_rate_per_source"
)

// Limits are the call limits of a domain; 0 is no limit.
type Limits struct {
	Sessions       int
	DeviceSessions int
	CallsPerSecond int
}

// LimitDoc is one stored limit.
type LimitDoc struct {
	Category string `json:"category"`
	Quantity int    `json:"quantity"`
}

// Validate is the one check of a limit; the error reads "field: rule".
func (l *LimitDoc) Validate() error {
	switch l.Category {
	case LimitSessions, LimitDeviceSessions, LimitCallRate:
	case "api_limit", "devices":
		return fmt.Errorf("category: %s is not enforced by the gateway (it limits calls: %s, %s, %s)", l.Category, LimitSessions, LimitDeviceSessions, LimitCallRate)
	default:
		return fmt.Errorf("category: %q is not %s, %s or %s", l.Category, LimitSessions, LimitDeviceSessions, LimitCallRate)
	}
	if l.Quantity < 0 || l.Quantity > 100000 {
		return fmt.Errorf("quantity: %d is not 0 (no limit) to 100000", l.Quantity)
	}
	return nil
}

// LimitDirectory is the part of a Directory that knows call limits; a
// Directory without it has none.
type LimitDirectory interface {
	Limits(domain string) (Limits, error)
}

// Limits implements LimitDirectory from the store's limit documents.
func (d StoreDirectory) Limits(domain string) (Limits, error) {
	// Every call asks: the answer is kept until a limit is written.
	v, err := d.DB.Cached(store.CacheKey{Read: "engine.limits", Domain: domain}, func(tx *store.Tx) (any, error) { return limits(tx, domain) })
	if err != nil {
		return Limits{}, err
	}
	return v.(Limits), nil
}

func limits(tx *store.Tx, domain string) (Limits, error) {
	var l Limits
	err := eachIn(tx, domain, ResLimit, func(id string, b []byte) error {
		var doc LimitDoc
		if json.Unmarshal(b, &doc) != nil {
			return nil
		}
		switch doc.Category {
		case LimitSessions:
			l.Sessions = doc.Quantity
		case LimitDeviceSessions:
			l.DeviceSessions = doc.Quantity
		case LimitCallRate:
			l.CallsPerSecond = doc.Quantity
		}
		return nil
	})
	return l, err
}

// limiter counts calls per domain and new calls per source.
type limiter struct {
	mu     sync.Mutex
	domain map[string]int
	rate   map[string]*tokens // source IP -> its bucket
}

type tokens struct {
	n    float64
	last time.Time
}

// maxRateSources bounds the per-source table: past it the table starts
// over (a flood from many addresses cannot grow memory).
const maxRateSources = 4096

func (l *limiter) allowRate(src string, perSec int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate == nil || len(l.rate) >= maxRateSources {
		l.rate = map[string]*tokens{}
	}
	b := l.rate[src]
	if b == nil {
		b = &tokens{n: float64(perSec), last: now}
		l.rate[src] = b
	}
	b.n = min(float64(perSec), b.n+now.Sub(b.last).Seconds()*float64(perSec))
	b.last = now
	if b.n < 1 {
		return false
	}
	b.n--
	return true
}

func (l *limiter) acquire(domain string, max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.domain == nil {
		l.domain = map[string]int{}
	}
	if max > 0 && l.domain[domain] >= max {
		return false
	}
	l.domain[domain]++
	return true
}

func (l *limiter) release(domain string) {
	l.mu.Lock()
	if l.domain[domain]--; l.domain[domain] <= 0 {
		delete(l.domain, domain)
	}
	l.mu.Unlock()
}

// limitsOf reads the limits of domain (none when the directory has none
// or they cannot be read: a broken store must not stop calls).
func (e *Engine) limitsOf(domain string) Limits {
	ld, ok := e.dir.(LimitDirectory)
	if !ok {
		return Limits{}
	}
	l, err := ld.Limits(domain)
	if err != nil {
		e.log.Warn("call limits unreadable", "domain", domain, "err", err)
	}
	return l
}

// admitLimits applies the domain's limits to a new INVITE from dev (nil
// for a trunk or trusted source): its source's call rate, the domain's
// calls in progress and the device's. When a limit is reached it answers
// 503 with Retry-After and returns ok false; else release gives back what
// the call holds once it ends (hand it to the Call, or call it).
func (e *Engine) admitLimits(req *sip.Request, tx sip.ServerTransaction, domain string, dev *Device) (release func(), ok bool) {
	l := e.limitsOf(domain)
	refuse := func(retry int, why string) (func(), bool) {
		e.respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(retry)), reasonHeader(503, why))
		return nil, false
	}
	if l.CallsPerSecond > 0 {
		src, _, err := net.SplitHostPort(req.Source())
		if err != nil {
			src = req.Source()
		}
		if !e.limits.allowRate(src, l.CallsPerSecond, time.Now()) {
			return refuse(1, "more than "+strconv.Itoa(l.CallsPerSecond)+" calls per second from "+src+" ("+LimitCallRate+")")
		}
	}
	if !e.limits.acquire(domain, l.Sessions) {
		why := "domain " + domain + " has " + strconv.Itoa(l.Sessions) + " calls in progress (" + LimitSessions + ")"
		e.raise(domain, AlertCallLimit, "", "calls refused: "+why, "")
		return refuse(5, why)
	}
	if l.Sessions > 0 {
		e.clearAlert(domain, AlertCallLimit, "", "calls taken again ("+LimitSessions+")")
	}
	rel := func() { e.limits.release(domain) }
	if dev != nil {
		key := busyKey(domain, dev.DeviceID)
		if !e.pbx.acquire(key, l.DeviceSessions) {
			rel()
			why := "device " + dev.DeviceID + " has " + strconv.Itoa(l.DeviceSessions) + " calls in progress (" + LimitDeviceSessions + ")"
			e.raise(domain, AlertDeviceLimit, dev.DeviceID, "calls refused: "+why, "")
			return refuse(5, why)
		}
		if l.DeviceSessions > 0 {
			e.clearAlert(domain, AlertDeviceLimit, dev.DeviceID, "device "+dev.DeviceID+" takes calls again ("+LimitDeviceSessions+")")
		}
		return func() { rel(); e.pbx.release(key) }, true
	}
	return rel, true
}

// deviceAtLimit says whether the device key may take no further call
// (device_call_session), for the callee side.
func (e *Engine) deviceAtLimit(domain, key string) bool {
	l := e.limitsOf(domain)
	if l.DeviceSessions <= 0 {
		return false
	}
	return e.pbx.count(key) >= l.DeviceSessions
}
