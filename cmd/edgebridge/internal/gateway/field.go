package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/api"
)

// What the status summary and the web page's field service read from the
// gateway (api.Gateway); the console's Calls and Alarms are the same methods.

// Health implements api.Gateway.
func (g *Gateway) Health() api.GatewayHealth {
	h := api.GatewayHealth{Calls: g.callsInProgress(), Trunks: []api.TrunkHealth{}, Paths: []api.PathHealth{}}
	if g.eng != nil && g.started.Load() {
		h.SIPUp, h.SIPAddr = true, g.eng.Addr()
	}
	if b, err := g.db.Bindings(time.Now()); err == nil {
		h.Registrations = len(b)
	}
	for _, t := range g.trunkStates() {
		h.Trunks = append(h.Trunks, api.TrunkHealth{Name: t.Name, Up: t.Up})
	}
	s := g.dl.Stats()
	h.Queued = int(s.Queued)
	for _, d := range s.Destinations {
		h.Paths = append(h.Paths, api.PathHealth{Destination: d.Name, Path: "primary", Up: d.PrimaryUp, LastError: d.PrimaryError, Queued: int(d.Queued)})
		if d.HasBackup {
			h.Paths = append(h.Paths, api.PathHealth{Destination: d.Name, Path: "backup", Up: d.BackupUp, LastError: d.BackupError, Queued: int(d.Queued)})
		}
	}
	return h
}

// AlarmsChanged implements api.Gateway.
func (g *Gateway) AlarmsChanged() <-chan struct{} {
	g.recent.mu.Lock()
	defer g.recent.mu.Unlock()
	return g.recent.changedLocked()
}

const testCode = "601" // Contact ID: manual trigger test report

// TestAlarm implements api.Gateway: a Contact ID 601 (manual test report)
// through the mapper's endpoints, queued like a received alarm and marked
// as a test so the ARC and the lists can tell.
func (g *Gateway) TestAlarm(ctx context.Context, domain string, t api.TestAlarm) (string, error) {
	m, err := g.prov.EventMapper(domain, t.MapperID)
	if err != nil {
		return "", err
	}
	if m == nil {
		return "", fmt.Errorf("no alarm event mapper %q", t.MapperID)
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	now := time.Now()
	raw := fmt.Sprintf("%s 1%s 00 000 test", strings.ToUpper(t.Account), testCode)
	ev := alarm.Event{
		ID:           alarm.EventID(domain, "test-"+hex.EncodeToString(nonce), alarm.ProtoContactID, raw),
		Protocol:     alarm.ProtoContactID,
		Domain:       domain,
		Received:     now,
		Raw:          raw,
		Test:         true,
		ControllerID: t.Account,
		StatusCode:   "1" + testCode,
		MapperID:     m.ID,
		CallerID:     m.CallerID,
		FromDomain:   m.FromDomain,
		Handling:     alarm.HandlingDrop, // no voice call: nobody is at the panel
		ContactID:    &alarm.ContactIDFields{Account: t.Account, Qualifier: "1", Code: testCode, Group: "00", Zone: "000"},
	}
	if err := g.dl.Enqueue(ctx, ev); err != nil {
		if errors.Is(err, context.Canceled) {
			return "", err
		}
		return "", fmt.Errorf("alarm event mapper %s: %w", m.ID, err)
	}
	g.recent.add(ev)
	return ev.ID, nil
}

// PostAlarmEvent implements api.Gateway: an event posted to an alarmbridge
// of protocol api is mapped, queued and delivered like a received one.
func (g *Gateway) PostAlarmEvent(ctx context.Context, domain, bridgeID string, p alarm.PostedEvent) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	bridges, err := g.prov.AlarmBridges(domain)
	if err != nil {
		return "", err
	}
	var b *alarm.AlarmBridge
	for i := range bridges {
		if bridges[i].ID == bridgeID {
			b = &bridges[i]
		}
	}
	if b == nil || b.Protocol != string(alarm.ProtoAPI) {
		return "", fmt.Errorf("no alarmbridge %q of protocol api in domain %s", bridgeID, domain)
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	ev, err := g.svc.Raise(ctx, domain, b, p.Event(domain, hex.EncodeToString(nonce), time.Now()))
	if errors.Is(err, service.ErrUnknownDevice) {
		return "", fmt.Errorf("%w: %v", api.ErrNoSuchDevice, err)
	}
	if err != nil {
		return "", err
	}
	return ev.ID, nil
}
