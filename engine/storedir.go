package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"

	"github.com/edgebridge/edgebridge/store"
)

// Resources the engine reads from the store's working configuration.
const (
	ResDevice         = "device"         // id deviceId, the provisioning schema's device
	ResTrunk          = "trunk"          // id trunkId, the schema's trunk + Trunk's extensions
	ResTrustedNetwork = "trustednetwork" // {"network": "10.0.20.0/24", "description": ...} (a hosted PBX API's trusted networks)
)

// StoreDirectory reads devices, trunks and trusted networks from the
// store's working documents.
type StoreDirectory struct{ DB *store.DB }

// Device implements Directory. Every INVITE and REGISTER asks (by From
// user, mostly no device): the answer is kept until a device is written,
// and each caller gets its own copy.
func (d StoreDirectory) Device(domain, id string) (*Device, error) {
	v, err := d.DB.Cached(store.CacheKey{Read: "engine.device", Domain: domain, Arg: id}, func(tx *store.Tx) (any, error) {
		return device(tx, domain, id)
	})
	if err != nil {
		return nil, err
	}
	if dev, ok := v.(Device); ok {
		own := dev // allocated here only: no device is the usual answer
		return &own, nil
	}
	return nil, ErrNotFound
}

// device reads one device: a Device, or nil when there is none.
func device(tx *store.Tx, domain, id string) (any, error) {
	b, err := tx.Get(store.Coll{Domain: domain, Resource: ResDevice}, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadName) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dev Device
	if err := json.Unmarshal(b, &dev); err != nil {
		return nil, fmt.Errorf("device %s/%s: %w", domain, id, err)
	}
	if dev.DeviceID == "" {
		dev.DeviceID = id
	}
	if err := dev.Validate(); err != nil {
		return nil, fmt.Errorf("device %s/%s: %w", domain, id, err)
	}
	return dev, nil
}

// Trunks implements Directory.
func (d StoreDirectory) Trunks(domain string) ([]Trunk, error) {
	var out []Trunk
	err := d.each(domain, ResTrunk, func(id string, b []byte) error {
		var t Trunk
		if err := json.Unmarshal(b, &t); err != nil {
			return fmt.Errorf("trunk %s/%s: %w", domain, id, err)
		}
		t.TrunkID = id
		out = append(out, t)
		return nil
	})
	return out, err
}

// TrustedNetworks implements Directory. Every call asks: the answer is
// kept until a trusted network is written (the caller must not modify
// it).
func (d StoreDirectory) TrustedNetworks(domain string) ([]netip.Prefix, error) {
	v, err := d.DB.Cached(store.CacheKey{Read: "engine.trustednetworks", Domain: domain}, func(tx *store.Tx) (any, error) {
		return trustedNetworks(tx, domain)
	})
	if err != nil {
		return nil, err
	}
	return v.([]netip.Prefix), nil
}

func trustedNetworks(tx *store.Tx, domain string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := eachIn(tx, domain, ResTrustedNetwork, func(id string, b []byte) error {
		var n struct {
			Network string `json:"network"`
		}
		if json.Unmarshal(b, &n) != nil {
			return nil
		}
		if p, err := parsePrefix(n.Network); err == nil {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// Domains implements Directory.
func (d StoreDirectory) Domains() ([]string, error) {
	var out []string
	err := d.DB.View(func(tx *store.Tx) error {
		out = tx.Domains()
		return nil
	})
	return out, err
}

func (d StoreDirectory) each(domain, res string, fn func(id string, b []byte) error) error {
	return d.DB.View(func(tx *store.Tx) error { return eachIn(tx, domain, res, fn) })
}

// eachIn calls fn for each working document of res in domain, in id order.
func eachIn(tx *store.Tx, domain, res string, fn func(id string, b []byte) error) error {
	return tx.ForEach(store.Coll{Domain: domain, Resource: res}, "", func(id string, doc []byte) (bool, error) {
		return true, fn(id, doc)
	})
}

// UnmarshalJSON takes sourceNetworks as a list or as one string (the
// schema allows both), and separates ";"-joined lists (PBX trunk API style).
func (t *Trunk) UnmarshalJSON(b []byte) error {
	type plain Trunk
	var aux struct {
		plain
		SourceNetworks json.RawMessage `json:"sourceNetworks,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*t = Trunk(aux.plain)
	t.SourceNetworks = nil
	if len(aux.SourceNetworks) == 0 || string(aux.SourceNetworks) == "null" {
		return nil
	}
	var list []string
	if err := json.Unmarshal(aux.SourceNetworks, &list); err != nil {
		var one string
		if err := json.Unmarshal(aux.SourceNetworks, &one); err != nil {
			return fmt.Errorf("sourceNetworks: want a list of CIDRs or a string")
		}
		list = []string{one}
	}
	for _, s := range list {
		for _, p := range strings.Split(s, ";") {
			if p = strings.TrimSpace(p); p != "" {
				t.SourceNetworks = append(t.SourceNetworks, p)
			}
		}
	}
	return nil
}

// rawString shares a logged message's bytes instead of copying them (a
// copy of every SIP message crossing the gateway was a tenth of what a
// call allocated): SIPMessage.Data is written once by the tracer and
// never changed after.
func rawString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// storeSIPLog files SIP messages in the store's per-domain ring.
type storeSIPLog struct{ db *store.DB }

func (s storeSIPLog) AppendSIP(msgs []SIPMessage) error {
	for _, m := range msgs {
		sm := store.SIPMessage{
			Time: m.Time, Domain: m.Domain, Transport: strings.ToLower(m.Transport),
			CallID: m.CallID, Raw: rawString(m.Data),
			Direction: "in", Src: m.Remote, Dst: m.Local,
		}
		if m.Out {
			sm.Direction, sm.Src, sm.Dst = "out", m.Local, m.Remote
		}
		s.db.AppendSIP(sm)
	}
	return nil
}
