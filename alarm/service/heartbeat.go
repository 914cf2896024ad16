package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/alarm"
)

// Heartbeat states, as the device document shows them (heartbeatStatus).
const (
	HeartbeatUnknown = "unknown"
	HeartbeatOnline  = "online"
	HeartbeatOffline = "offline"
)

// heartbeatResource is the store collection (per domain) that holds the
// supervision state of each supervised device, keyed by deviceId. The
// device document itself gets heartbeatStatus and heartbeatExpiration
// mirrored into it, for the REST API.
const heartbeatResource = "heartbeat"

// heartbeatState is one supervised device.
type heartbeatState struct {
	Bridge     string `json:"alarmBridgeId,omitempty"`
	IntervalMs int64  `json:"intervalMs"`
	Expiration int64  `json:"expiration"` // Unix ms; the next heartbeat is due by then
	Status     string `json:"status"`
}

// Supervisor supervises device heartbeats (provisioning schema: device
// serviceData.alarmBridge.heartbeatInterval, or the alarmbridge's
// defaultHeartbeatInterval for devices that send to it). Any event a device
// gets queued counts as a heartbeat (see Observe). A device whose heartbeat
// is overdue goes offline, and one heard again comes back online; each
// change is an Event (ProtoSupervision) put to Queue like any alarm, and is
// written to the device document (heartbeatStatus, heartbeatExpiration).
type Supervisor struct {
	DB     *store.DB
	Prov   alarm.Provisioning
	Queue  alarm.Queue
	Router *Router // optional: map supervision events as the device's alarms are
	Now    func() time.Time
	Every  time.Duration // how often Run checks [10 s]
	Log    *slog.Logger

	// mu orders Beat against Check's offline transition of one device at a
	// time (held for one device's read-raise-write, never for a whole scan),
	// so a heartbeat arriving during a check is never overwritten.
	mu sync.Mutex
}

func (s *Supervisor) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Supervisor) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Observe wraps next so that every event it queues for a known device
// counts as that device's heartbeat. A supervision failure is logged, not
// returned: the event is safely queued and must be acknowledged.
func (s *Supervisor) Observe(next alarm.Queue) alarm.Queue {
	return alarm.QueueFunc(func(ctx context.Context, ev alarm.Event) error {
		if err := next.Enqueue(ctx, ev); err != nil {
			return err
		}
		s.Observed(ctx, ev)
		return nil
	})
}

// Observed counts a queued event of a known device as its heartbeat. A
// supervision failure is logged: the event is safely queued.
func (s *Supervisor) Observed(ctx context.Context, ev alarm.Event) {
	if ev.Protocol == alarm.ProtoSupervision || ev.DeviceKey == "" {
		return
	}
	if err := s.Beat(ctx, ev.Domain, ev.AlarmBridgeID, ev.DeviceKey); err != nil {
		s.log().Error("alarm: heartbeat not recorded", "domain", ev.Domain, "device", ev.DeviceKey, "err", err)
	}
}

// interval is the device's own heartbeatInterval, else the bridge's default.
func (s *Supervisor) interval(domain, bridgeID, deviceKey string) (int64, error) {
	devs, err := s.Prov.Devices(domain)
	if err != nil {
		return 0, err
	}
	for _, d := range devs {
		if d.DeviceID == deviceKey && d.ServiceData != nil && d.ServiceData.AlarmBridge != nil && d.ServiceData.AlarmBridge.HeartbeatInterval > 0 {
			return d.ServiceData.AlarmBridge.HeartbeatInterval, nil
		}
	}
	if bridgeID == "" {
		return 0, nil
	}
	bridges, err := s.Prov.AlarmBridges(domain)
	if err != nil {
		return 0, err
	}
	for _, b := range bridges {
		if b.ID == bridgeID {
			return b.DefaultHeartbeatInterval, nil
		}
	}
	return 0, nil
}

// Beat records a heartbeat from a device heard through bridgeID. A device
// with no interval is not supervised and Beat does nothing.
func (s *Supervisor) Beat(ctx context.Context, domain, bridgeID, deviceKey string) error {
	iv, err := s.interval(domain, bridgeID, deviceKey)
	if err != nil || iv <= 0 {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	prev, found, err := s.state(domain, deviceKey)
	if err != nil {
		return err
	}
	if found && prev.Status == HeartbeatOffline {
		// Queue the change before recording it: if the queue refuses, the
		// next heartbeat tries again (same event id, so never twice).
		if err := s.raise(ctx, domain, deviceKey, bridgeID, HeartbeatOnline, prev.Expiration, now); err != nil {
			return err
		}
	}
	st := heartbeatState{Bridge: bridgeID, IntervalMs: iv, Expiration: now.UnixMilli() + iv, Status: HeartbeatOnline}
	return s.save(domain, deviceKey, st)
}

// Check marks overdue devices offline, raising an event for each. It also
// starts supervising devices that have their own heartbeatInterval but were
// never heard, so that one that never calls goes offline too.
func (s *Supervisor) Check(ctx context.Context) error {
	var domains []string
	if err := s.DB.View(func(tx *store.Tx) error { domains = tx.Domains(); return nil }); err != nil {
		return err
	}
	now := s.now()
	var errs []error
	for _, domain := range domains {
		devs, err := s.Prov.Devices(domain)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range devs {
			if d.ServiceData == nil || d.ServiceData.AlarmBridge == nil || d.ServiceData.AlarmBridge.HeartbeatInterval <= 0 {
				continue
			}
			s.mu.Lock()
			if _, found, err := s.state(domain, d.DeviceID); err == nil && !found {
				iv := d.ServiceData.AlarmBridge.HeartbeatInterval
				errs = append(errs, s.save(domain, d.DeviceID, heartbeatState{IntervalMs: iv, Expiration: now.UnixMilli() + iv, Status: HeartbeatUnknown}))
			}
			s.mu.Unlock()
		}
		type due struct{ key string }
		var overdue []due
		err = s.DB.View(func(tx *store.Tx) error {
			return tx.ForEach(store.Coll{Domain: domain, Resource: heartbeatResource}, "", func(id string, doc []byte) (bool, error) {
				var st heartbeatState
				if json.Unmarshal(doc, &st) == nil && st.Status != HeartbeatOffline && now.UnixMilli() > st.Expiration {
					overdue = append(overdue, due{id})
				}
				return true, nil
			})
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range overdue {
			errs = append(errs, s.offline(ctx, domain, o.key, now))
		}
	}
	return errors.Join(errs...)
}

// offline marks one device offline if it is still overdue.
func (s *Supervisor) offline(ctx context.Context, domain, key string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, found, err := s.state(domain, key)
	if err != nil || !found || st.Status == HeartbeatOffline || now.UnixMilli() <= st.Expiration {
		return err // a heartbeat came in since the scan
	}
	if err := s.raise(ctx, domain, key, st.Bridge, HeartbeatOffline, st.Expiration, now); err != nil {
		return err // stays as it is; the next check tries again
	}
	st.Status = HeartbeatOffline
	return s.save(domain, key, st)
}

// Run checks every Every until ctx ends.
func (s *Supervisor) Run(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.log().Error("alarm: heartbeat check", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Status reports a device's heartbeat status and when its next heartbeat is
// due (zero time when it is not supervised).
func (s *Supervisor) Status(domain, deviceKey string) (string, time.Time, error) {
	st, found, err := s.state(domain, deviceKey)
	if err != nil || !found {
		return HeartbeatUnknown, time.Time{}, err
	}
	return st.Status, time.UnixMilli(st.Expiration), nil
}

func (s *Supervisor) state(domain, key string) (heartbeatState, bool, error) {
	var st heartbeatState
	doc, err := s.DB.Get(store.Coll{Domain: domain, Resource: heartbeatResource}, key)
	if errors.Is(err, store.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(doc, &st); err != nil {
		return st, false, fmt.Errorf("alarm: heartbeat state %s/%s: %w", domain, key, err)
	}
	return st, true, nil
}

// save writes the state and mirrors it into the device document in one
// transaction, so the API never shows a status the supervisor does not hold.
func (s *Supervisor) save(domain, key string, st heartbeatState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.DB.Update(func(tx *store.Tx) error {
		if err := tx.Put(store.Coll{Domain: domain, Resource: heartbeatResource}, key, b); err != nil {
			return err
		}
		dc := store.Coll{Domain: domain, Resource: "device"}
		doc, err := tx.Get(dc, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil // device deleted meanwhile: nothing to show
		}
		if err != nil {
			return err
		}
		var d map[string]any
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("alarm: device %s/%s: %w", domain, key, err)
		}
		d["heartbeatStatus"] = st.Status
		d["heartbeatExpiration"] = st.Expiration
		out, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return tx.Put(dc, key, out)
	})
}

// raise queues a supervision event for a device. Its id depends on the
// change and on the expiration it concerns, so a retry is the same event.
func (s *Supervisor) raise(ctx context.Context, domain, key, bridgeID, state string, expiration int64, now time.Time) error {
	ev := alarm.Event{
		ID:            alarm.EventID(domain, "heartbeat", alarm.ProtoSupervision, fmt.Sprintf("%s %s %d", key, state, expiration)),
		Protocol:      alarm.ProtoSupervision,
		Domain:        domain,
		DeviceKey:     key,
		AlarmBridgeID: bridgeID,
		Received:      now,
		Raw:           "heartbeat " + state + " " + key,
		Supervision:   &alarm.SupervisionFields{Kind: "heartbeat", State: state, Expiration: time.UnixMilli(expiration)},
	}
	if s.Router != nil && bridgeID != "" {
		if bridges, err := s.Prov.AlarmBridges(domain); err == nil {
			for i := range bridges {
				if bridges[i].ID == bridgeID {
					if err := s.Router.Map(domain, &bridges[i], &ev); err != nil {
						s.log().Warn("alarm: supervision event not mapped", "domain", domain, "device", key, "err", err)
					}
					break
				}
			}
		}
	}
	if err := s.Queue.Enqueue(ctx, ev); err != nil {
		return fmt.Errorf("alarm: queue %s event for %s: %w", state, key, err)
	}
	s.log().Warn("alarm: device heartbeat "+state, "domain", domain, "device", key, "event", ev.ID)
	return nil
}
