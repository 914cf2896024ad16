package engine

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// Alerts (a CPaaS API's Alerts shape: time, account_sid, alert_type,
// message, detail): conditions the engine sees that an installer must act
// on. Each is raised once per cause (its key) and raised again only after
// it cleared; the clearing is an alert too (cleared true). They are kept in
// the store (ResAlert, the newest alertCap per domain) and handed to the
// WithAlerts observer (the gateway posts them to alarmEventsRestEndpoint).

// ResAlert is the store resource of alerts: id = time-ordered.
const ResAlert = "alert"

// Alert types: the first three are the CPaaS API's, the others gateway
// extensions.
const (
	// AlertNoCarrier: a trunk's registration failed or its keep-alive went
	// unanswered.
	AlertNoCarrier = "no-carrier"
	// AlertCallLimit: a call refused at the domain's voice_call_session.
	AlertCallLimit = "call-limit"
	// AlertDeviceLimit: a call refused at a device's device_call_session.
	AlertDeviceLimit = "device-limit"
	// AlertAuthFailures: authFailureBurst failed digests from one address
	// within authFailureWindow.
	AlertAuthFailures = "auth-failures"
	// AlertARCPathDown: a path to an alarm receiving centre went offline
	// (the gateway files it, RaiseAlert).
	AlertARCPathDown = "arc-path-down"
	// AlertUnknownAccount: an alarm from an account no device matches was
	// refused (the gateway files it).
	AlertUnknownAccount = "unknown-alarm-account"
	// AlertQueueBacklog: the durable alarm queue of one ARC holds more
	// events than the gateway's threshold, or its oldest waits longer
	// (the gateway files it).
	AlertQueueBacklog = "queue-backlog"
	// AlertCallQueueBacklog: a ringExclusive group's call queue holds more
	// calls than WithQueueAlert's calls, or its first caller has waited
	// longer than its wait (one cause per group).
	AlertCallQueueBacklog = "call-queue-backlog"
	// AlertStoreNearlyFull: the store file nears its size budget, or the
	// data folder's filesystem nears its end (the gateway files it).
	AlertStoreNearlyFull = "store-nearly-full"
	// AlertStoreUnwritable: the disk refused a write of the store (the
	// gateway files it; cleared by the next write that commits).
	AlertStoreUnwritable = "store-unwritable"
)

// AlertTypes are the alert types, the CPaaS API's first.
var AlertTypes = []string{AlertNoCarrier, AlertCallLimit, AlertDeviceLimit, AlertAuthFailures, AlertARCPathDown, AlertUnknownAccount,
	AlertQueueBacklog, AlertStoreNearlyFull, AlertStoreUnwritable, AlertCallQueueBacklog}

// RaiseAlert files an alert the gateway saw outside the engine, once per
// cause (domain, type, key) until ClearAlert clears it.
func (e *Engine) RaiseAlert(domain, typ, key, msg, detail string) {
	e.raise(domain, typ, key, msg, detail)
}

// ClearAlert files the end of a cause RaiseAlert raised.
func (e *Engine) ClearAlert(domain, typ, key, msg string) { e.clearAlert(domain, typ, key, msg) }

const (
	alertCap          = 500
	authFailureBurst  = 5
	authFailureWindow = time.Minute
)

// Alert is one alert, in the CPaaS API's field names.
type Alert struct {
	Time      time.Time `json:"time"`
	AccountID string    `json:"account_sid"` // the domain
	AlertType string    `json:"alert_type"`
	Message   string    `json:"message"`
	Detail    string    `json:"detail,omitempty"`
	Cleared   bool      `json:"cleared,omitempty"` // gateway extension: the cause is over
	// Acknowledged: an installer has seen it (the REST API's ack; gateway
	// extension).
	Acknowledged bool `json:"acknowledged,omitempty"`
	// ID is its key in the store, filled when it is listed (not stored).
	ID string `json:"id,omitempty"`
}

// WithAlerts makes the engine call f with each alert raised or cleared
// (from its own goroutine; f must not block for long).
func WithAlerts(f func(Alert)) Option { return func(e *Engine) { e.onAlert = f } }

type alertState struct {
	mu     sync.Mutex
	active map[string]bool // domain NUL type NUL key
	fails  map[string][]time.Time
}

// alertStore holds the alerts still to store: those the store refused (its
// disk full, say) are stored before the next alert, so that the list shows
// them once it can.
type alertStore struct {
	mu      sync.Mutex
	todo    []Alert
	storing bool
}

// raise files an alert for cause key unless it is active already.
func (e *Engine) raise(domain, typ, key, msg, detail string) {
	if !e.alerts.flip(domain+"\x00"+typ+"\x00"+key, true) {
		return
	}
	e.fileAlert(Alert{Time: time.Now(), AccountID: domain, AlertType: typ, Message: msg, Detail: detail})
}

// clearAlert files the end of cause key when it was active.
func (e *Engine) clearAlert(domain, typ, key, msg string) {
	if !e.alerts.flip(domain+"\x00"+typ+"\x00"+key, false) {
		return
	}
	e.fileAlert(Alert{Time: time.Now(), AccountID: domain, AlertType: typ, Message: msg, Cleared: true})
}

// flip sets the cause's state and says whether it changed.
func (a *alertState) flip(k string, on bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.active == nil {
		a.active = map[string]bool{}
	}
	if a.active[k] == on {
		return false
	}
	if on {
		a.active[k] = true
	} else {
		delete(a.active, k)
	}
	return true
}

// authFailed counts a failed digest from src; at authFailureBurst within
// authFailureWindow it raises AlertAuthFailures for that address.
func (e *Engine) authFailed(domain, src string) {
	host, _, err := net.SplitHostPort(src)
	if err != nil {
		host = src
	}
	now := time.Now()
	a := &e.alerts
	a.mu.Lock()
	if a.fails == nil || len(a.fails) > maxRateSources {
		a.fails = map[string][]time.Time{}
	}
	k := domain + "\x00" + host
	ts := a.fails[k]
	for len(ts) > 0 && now.Sub(ts[0]) > authFailureWindow {
		ts = ts[1:]
	}
	ts = append(ts, now)
	a.fails[k] = ts
	n := len(ts)
	a.mu.Unlock()
	if n >= authFailureBurst {
		e.raise(domain, AlertAuthFailures, host, fmt.Sprintf("%d failed digest authentications from %s within %v", n, host, authFailureWindow), "")
	}
}

// authSucceeded clears the failures of src.
func (e *Engine) authSucceeded(domain, src string) {
	host, _, err := net.SplitHostPort(src)
	if err != nil {
		host = src
	}
	e.alerts.mu.Lock()
	delete(e.alerts.fails, domain+"\x00"+host)
	e.alerts.mu.Unlock()
	e.clearAlert(domain, AlertAuthFailures, host, "a digest from "+host+" succeeded")
}

func (e *Engine) fileAlert(a Alert) {
	e.log.Warn("alert", "domain", a.AccountID, "type", a.AlertType, "message", a.Message, "cleared", a.Cleared)
	if e.onAlert != nil {
		e.onAlert(a)
	}
	if e.db == nil {
		return
	}
	// Stored in order by whoever finds no one storing: a failed write of
	// the store makes the gateway file store-unwritable from within this
	// very write (store.OnWritable), which must queue, not wait.
	s := &e.alertStore
	s.mu.Lock()
	s.todo = append(s.todo, a)
	if n := len(s.todo); n > alertCap {
		s.todo = s.todo[n-alertCap:]
	}
	if s.storing {
		s.mu.Unlock()
		return
	}
	s.storing = true
	// While the disk refuses writes they wait: a small write that commits
	// would count as the store writable again (and the next refused one
	// as a new outage).
	for len(s.todo) > 0 && e.db.Writable() == nil {
		next := s.todo[0]
		s.mu.Unlock()
		err := storeAlert(e.db, next)
		s.mu.Lock()
		if err != nil {
			e.log.Error("alert not stored yet", "err", err)
			break
		}
		s.todo = s.todo[1:]
	}
	s.storing = false
	s.mu.Unlock()
}

// storeAlert keeps a in its domain's alerts, the newest alertCap.
func storeAlert(db *store.DB, a Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	coll := store.Coll{Domain: a.AccountID, Resource: ResAlert}
	return db.Update(func(tx *store.Tx) error {
		if err := tx.Put(coll, fmt.Sprintf("%020d", a.Time.UnixNano()), b); err != nil {
			return err
		}
		var ids []string
		if err := tx.ForEach(coll, "", func(id string, _ []byte) (bool, error) {
			ids = append(ids, id)
			return true, nil
		}); err != nil {
			return err
		}
		for i := 0; i < len(ids)-alertCap; i++ {
			if err := tx.Delete(coll, ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
