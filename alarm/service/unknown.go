package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// An alarm from an account that no provisioned device matches gets no
// kissoff (the unit keeps trying and then uses its backup number), but it
// must not vanish either: the installer sees it in the console's alarms
// (OnUnknown), in /metrics (UnknownAccounts) and in one log line, and the
// bridge's ARC gets a supervision event naming the account (SIA-DCS UA
// under that account over DC-09), at most once per account per hour, so
// that a unit calling every minute does not flood it.
const unknownReportEvery = time.Hour

type unknownAccounts struct {
	mu    sync.Mutex
	last  map[string]time.Time // domain/account -> last report
	seen  map[string]bool      // event ids counted
	total uint64
}

// UnknownAccounts is how many alarm events were refused because no
// provisioned device matched their account (each event once, however often
// the unit repeats it).
func (s *Service) UnknownAccounts() uint64 {
	s.unknown.mu.Lock()
	defer s.unknown.mu.Unlock()
	return s.unknown.total
}

// noteUnknown handles an event whose mapping failed with ErrUnknownDevice.
func (s *Service) noteUnknown(ctx context.Context, domain string, b *alarm.AlarmBridge, ev alarm.Event) {
	now := s.now()
	account := ev.ControllerID
	if ev.ContactID != nil {
		account = ev.ContactID.Account
	}
	if account == "" {
		account = ev.CallerID
	}
	u := &s.unknown
	u.mu.Lock()
	if u.seen == nil {
		u.seen, u.last = map[string]bool{}, map[string]time.Time{}
	}
	newEvent := !u.seen[ev.ID]
	if newEvent {
		if len(u.seen) > 10000 {
			clear(u.seen) // bounded: a repeat counted twice is the worst case
		}
		u.seen[ev.ID] = true
		u.total++
	}
	key := domain + "/" + account
	report := now.Sub(u.last[key]) >= unknownReportEvery
	if report {
		u.last[key] = now
	}
	u.mu.Unlock()
	if newEvent && s.OnUnknown != nil {
		s.OnUnknown(ev)
	}
	if !report {
		return
	}
	s.log().Warn("alarm: alarm from an unknown account refused (no kissoff); provision a device for it",
		"domain", domain, "alarmbridge", b.ID, "account", account, "protocol", ev.Protocol, "raw", ev.Raw)
	sup := alarm.Event{
		ID:            alarm.EventID(domain, "unknown-account", alarm.ProtoSupervision, fmt.Sprintf("%s %d", account, now.Unix()/int64(unknownReportEvery/time.Second))),
		Protocol:      alarm.ProtoSupervision,
		Domain:        domain,
		AlarmBridgeID: b.ID,
		MapperID:      b.AlarmEventMapperID,
		ControllerID:  account,
		CallerID:      ev.CallerID,
		Received:      now,
		Raw:           fmt.Sprintf("alarm from unknown account %s refused: %s", account, ev.Raw),
		Priority:      1,
		Supervision:   &alarm.SupervisionFields{Kind: "unknownaccount", State: "offline"},
	}
	if err := s.Queue.Enqueue(ctx, sup); err != nil {
		s.log().Error("alarm: unknown-account supervision event not queued", "domain", domain, "account", account, "err", err)
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// unknownDevice reports whether err is a mapping refused for want of a device.
func unknownDevice(err error) bool { return errors.Is(err, ErrUnknownDevice) }
