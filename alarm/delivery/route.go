package delivery

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/dc09"
)

// Endpoint protocols. Others (e.g. "scaip") work when a sender for them is
// registered with WithSender.
const (
	ProtoHTTP = "http" // POST {URL}/newAlarmbridgeEvent; URL is http:// or https://
	ProtoDC09 = "dc09" // SIA DC-09 to an ARC; gateway extension of targetEndpoint.protocol
)

// Route is where one event goes: a named destination (its own queue and
// worker) with a primary endpoint and an optional backup.
type Route struct {
	// Name identifies the destination's queue, e.g. "example.com/mapper/m1".
	// Routes with the same Name share one ordered queue and one worker.
	Name    string    `json:"name"`
	Domain  string    `json:"domain,omitempty"` // tenant; copied into the route's supervision events
	Primary Endpoint  `json:"primary"`
	Backup  *Endpoint `json:"backup,omitempty"`
	// Monitor is the mapper's enableDestinationMonitoring: both paths are
	// probed and a change is raised as a supervision event.
	Monitor bool `json:"monitor,omitempty"`
}

// Endpoint is one path to a destination. A route is stored with each queued
// event (so a queue drains after a restart even if its configuration is
// gone), including its credentials: the store file is private to the gateway.
type Endpoint struct {
	Protocol string `json:"protocol"` // ProtoHTTP, ProtoDC09, or one registered with WithSender
	// URL is the callback base URL (http) or host:port (dc09); for other
	// protocols the schema's destAddr.
	URL string `json:"url"`

	// HTTP callback: restAuthentication entries tried in turn on 401/403,
	// extra request headers, and callbackTimeout.
	Auth    []RestAuth        `json:"auth,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Timeout time.Duration     `json:"timeout,omitempty"` // per attempt; 0 = 15 s for http, 5 s for dc09

	// SIA DC-09.
	Transport  string `json:"transport,omitempty"` // "tcp" (default) or "udp"
	Account    string `json:"account,omitempty"`   // hex; "" = the event's Contact ID account
	Receiver   string `json:"receiver,omitempty"`  // hex receiver number, "" for none
	Line       string `json:"line,omitempty"`      // hex line (account prefix); default "0"
	Key        []byte `json:"key,omitempty"`       // AES-128/192/256 key, nil for plain text
	Format     string `json:"format,omitempty"`    // dc09.IDADMCID (default) or dc09.IDSIADCS
	EventIDExt bool   `json:"eventIdExt,omitempty"`

	// SIP (for a registered SCAIP sender): the schema's targetEndpoint fields.
	SIPAuthUser     string `json:"sipAuthUser,omitempty"`
	SIPAuthPassword string `json:"sipAuthPassword,omitempty"`
	OverrideSIPFrom string `json:"overrideSipFrom,omitempty"`
}

// RestAuth is one entry of restAuthentication (provisioning schema): a JWT bearer
// token signed with Secret (HS256: the shared secret; RS256: a PEM RSA
// private key), carrying sub and scope, plus headers sent with it.
type RestAuth struct {
	Type           string            `json:"type"`
	Secret         string            `json:"secret"`
	Sub            string            `json:"sub,omitempty"`
	Scope          string            `json:"scope,omitempty"`
	RequestHeaders map[string]string `json:"requestHeaders,omitempty"`
}

// Validate checks the route the way a REST write would: the first bad field
// is named.
func (r Route) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("delivery: route: empty name")
	}
	if err := r.Primary.validate(); err != nil {
		return fmt.Errorf("delivery: route %s: targetEndpoint: %w", r.Name, err)
	}
	if r.Backup != nil {
		if err := r.Backup.validate(); err != nil {
			return fmt.Errorf("delivery: route %s: backupEndpoint: %w", r.Name, err)
		}
	}
	return nil
}

func (e Endpoint) validate() error {
	switch e.Protocol {
	case ProtoHTTP:
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q: must start with http:// or https://", e.URL)
		}
		if err := CheckRestAuth(e.Auth); err != nil {
			return err
		}
	case ProtoDC09:
		if _, _, err := net.SplitHostPort(e.URL); err != nil {
			return fmt.Errorf("destAddr %q: want host:port", e.URL)
		}
		if e.Transport != "" && e.Transport != "tcp" && e.Transport != "udp" {
			return fmt.Errorf("dc09 transport %q: want tcp or udp", e.Transport)
		}
		if e.Format != "" && e.Format != dc09.IDADMCID && e.Format != dc09.IDSIADCS {
			return fmt.Errorf("dc09 format %q: want ADM-CID or SIA-DCS", e.Format)
		}
		for _, f := range []struct {
			name, v string
			lo, hi  int
		}{{"account", e.Account, 3, 16}, {"receiver", e.Receiver, 1, 6}, {"line", e.Line, 1, 6}} {
			if f.v != "" && !isHexLen(f.v, f.lo, f.hi) {
				return fmt.Errorf("dc09 %s %q: want %d to %d hex digits", f.name, f.v, f.lo, f.hi)
			}
		}
		if n := len(e.Key); n != 0 && n != 16 && n != 24 && n != 32 {
			return fmt.Errorf("dc09 key of %d bytes: want 16, 24 or 32", n)
		}
	case "":
		return fmt.Errorf("protocol: empty")
	default:
		if e.URL == "" {
			return fmt.Errorf("required for protocol %s", e.Protocol)
		}
	}
	return nil
}

// ParseDC09Addr reads the destAddr of a dc09 endpoint. Besides host:port it
// takes a URL that carries the DC-09 settings the provisioning schema has no fields for:
//
//	dc09://arc.example:5001?transport=udp&account=1234&receiver=1&line=0&key=HEX&format=SIA-DCS&eventid=1&timeout=3000
//
// tcp://host:port and udp://host:port are short forms. Defaults: transport
// tcp; account: the event's own (see dc09Account); receiver: none (no R
// field; receivers that want one, e.g. R1, get it from receiver=); line 0
// (L0); no key (plain text); format ADM-CID for Contact ID events; no
// event id extension; timeout 5000 ms.
func ParseDC09Addr(s string) (Endpoint, error) {
	ep := Endpoint{Protocol: ProtoDC09, Transport: "tcp"}
	if !strings.Contains(s, "://") {
		ep.URL = s
		return ep, ep.validate()
	}
	u, err := url.Parse(s)
	if err != nil {
		return ep, fmt.Errorf("destAddr %q: %w", s, err)
	}
	switch u.Scheme {
	case "dc09":
	case "tcp", "udp":
		ep.Transport = u.Scheme
	default:
		return ep, fmt.Errorf("destAddr %q: scheme %q: want dc09, tcp or udp", s, u.Scheme)
	}
	ep.URL = u.Host
	q := u.Query()
	if v := q.Get("transport"); v != "" {
		ep.Transport = v
	}
	ep.Account, ep.Receiver, ep.Line, ep.Format = q.Get("account"), q.Get("receiver"), q.Get("line"), q.Get("format")
	if v := q.Get("key"); v != "" {
		if ep.Key, err = dc09.ParseKey(v); err != nil {
			return ep, fmt.Errorf("destAddr key: %w", err)
		}
	}
	ep.EventIDExt = q.Get("eventid") == "1" || q.Get("eventid") == "true"
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return ep, fmt.Errorf("destAddr timeout %q: want milliseconds > 0", v)
		}
		ep.Timeout = time.Duration(ms) * time.Millisecond
	}
	return ep, ep.validate()
}

// MapperRoute builds the route of an event mapper (provisioning schema
// /alarmeventmapper): targetEndpoint, its backupEndpoint and
// enableDestinationMonitoring. Protocol dc09 reads destAddr with
// ParseDC09Addr; http/https take destAddr as the callback base URL; any
// other protocol (scaip) keeps the SIP fields for a registered sender.
func MapperRoute(domain string, m *alarm.EventMapper) (Route, error) {
	if m == nil {
		return Route{}, fmt.Errorf("delivery: no event mapper")
	}
	te := m.TargetEndpoint
	mk := func(addr, user, pass, from string) (Endpoint, error) {
		switch te.Protocol {
		case ProtoDC09:
			return ParseDC09Addr(addr)
		case "http", "https":
			ep := Endpoint{Protocol: ProtoHTTP, URL: addr}
			if te.Protocol == "https" && !strings.HasPrefix(strings.ToLower(addr), "https://") {
				return ep, fmt.Errorf("url %q: protocol https wants an https:// address", addr)
			}
			return ep, ep.validate()
		}
		ep := Endpoint{Protocol: te.Protocol, URL: addr, SIPAuthUser: user, SIPAuthPassword: pass, OverrideSIPFrom: from}
		return ep, ep.validate()
	}
	r := Route{Name: domain + "/mapper/" + m.ID, Domain: domain, Monitor: m.EnableDestinationMonitoring}
	var err error
	if r.Primary, err = mk(te.DestAddr, te.SipAuthUser, te.SipAuthPassword, te.OverrideSipFrom); err != nil {
		return r, fmt.Errorf("delivery: alarmeventmapper %s: %w", m.ID, &alarm.FieldError{Field: "targetEndpoint.destAddr", Rule: err.Error()})
	}
	if b := te.BackupEndpoint; b != nil && b.BackupDestAddr != "" {
		ep, err := mk(b.BackupDestAddr, b.BackupSipAuthUser, b.BackupSipAuthPassword, b.BackupOverrideSipFrom)
		if err != nil {
			return r, fmt.Errorf("delivery: alarmeventmapper %s: %w", m.ID, &alarm.FieldError{Field: "targetEndpoint.backupEndpoint.backupDestAddr", Rule: err.Error()})
		}
		r.Backup = &ep
	}
	return r, nil
}

// CallbackRoute builds the route of the alarmbridge HTTP callback:
// baseURL is notificationsettings' alarmbridgeCallbackEndpoint or the
// alarmbridge's callbackBaseUrl; timeoutMs its callbackTimeout (0: 15000).
func CallbackRoute(domain, bridgeID, baseURL string, auth []RestAuth, headers map[string]string, timeoutMs int64) (Route, error) {
	ep := Endpoint{Protocol: ProtoHTTP, URL: baseURL, Auth: auth, Headers: headers, Timeout: time.Duration(timeoutMs) * time.Millisecond}
	r := Route{Name: domain + "/callback/" + bridgeID, Domain: domain, Primary: ep}
	return r, r.Validate()
}

func isHexLen(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
