package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/alarm"
)

// StoreProvisioning reads the working copies of the provisioning documents
// the REST API stores (store.Coll{domain, "alarmbridge" | "alarmeventmapper"
// | "device"}). Every call reads a fresh snapshot, so a configuration change
// applies to the next call without a restart.
//
// An alarmbridge that does not decode or fails alarm.AlarmBridge.Validate is
// skipped (and logged), so that one bad document cannot stop alarms routed
// by the others; the API runs the same Validate on every write, so this
// only guards against files written by other versions.
type StoreProvisioning struct {
	DB  *store.DB
	Log *slog.Logger // nil: slog.Default()
}

var _ alarm.Provisioning = StoreProvisioning{}

// AlarmBridges lists the domain's alarmbridges in id order.
func (p StoreProvisioning) AlarmBridges(domain string) ([]alarm.AlarmBridge, error) {
	var out []alarm.AlarmBridge
	err := p.each(domain, "alarmbridge", func(id string, doc []byte) error {
		var b alarm.AlarmBridge
		if err := json.Unmarshal(doc, &b); err != nil {
			p.skip("alarmbridge", domain, id, err)
			return nil
		}
		if err := b.Validate(); err != nil {
			p.skip("alarmbridge", domain, id, err)
			return nil
		}
		if b.ID == "" {
			b.ID = id
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// EventMapper returns one alarm event mapper, or nil when there is none.
func (p StoreProvisioning) EventMapper(domain, id string) (*alarm.EventMapper, error) {
	doc, err := p.DB.Get(store.Coll{Domain: domain, Resource: "alarmeventmapper"}, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m alarm.EventMapper
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("alarmeventmapper %s/%s: %w", domain, id, err)
	}
	if m.ID == "" {
		m.ID = id
	}
	return &m, nil
}

// Device returns the device stored under id, or nil when there is none.
func (p StoreProvisioning) Device(domain, id string) (*alarm.Device, error) {
	doc, err := p.DB.Get(store.Coll{Domain: domain, Resource: "device"}, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d, ok := p.device(domain, id, doc)
	if !ok {
		return nil, nil
	}
	return &d, nil
}

// Devices lists the domain's devices in id order.
func (p StoreProvisioning) Devices(domain string) ([]alarm.Device, error) {
	var out []alarm.Device
	err := p.each(domain, "device", func(id string, doc []byte) error {
		if d, ok := p.device(domain, id, doc); ok {
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// device decodes the device stored under id; ok is false (and it is
// logged) when it does not decode.
func (p StoreProvisioning) device(domain, id string, doc []byte) (d alarm.Device, ok bool) {
	if err := json.Unmarshal(doc, &d); err != nil {
		p.skip("device", domain, id, err)
		return d, false
	}
	if d.DeviceID == "" {
		d.DeviceID = id
	}
	return d, true
}

func (p StoreProvisioning) skip(resource, domain, id string, err error) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	log.Error("alarm: provisioning document skipped", "resource", resource, "domain", domain, "id", id, "err", err)
}

func (p StoreProvisioning) each(domain, resource string, fn func(id string, doc []byte) error) error {
	return p.DB.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Coll{Domain: domain, Resource: resource}, "", func(id string, doc []byte) (bool, error) {
			return true, fn(id, doc)
		})
	})
}
