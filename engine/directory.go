package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ErrNotFound is what a Directory returns for a device that does not exist.
var ErrNotFound = errors.New("engine: not found")

// Directory is where the engine reads provisioning. cmd wires it to the
// store's working documents; StaticDirectory serves tests and simulate.
type Directory interface {
	// Device returns a provisioned device of domain, or ErrNotFound.
	Device(domain, id string) (*Device, error)
	// Trunks lists the trunks of domain in their provisioned order.
	Trunks(domain string) ([]Trunk, error)
	// TrustedNetworks lists the networks of domain that need no digest.
	TrustedNetworks(domain string) ([]netip.Prefix, error)
	// Domains lists every provisioned domain (trunks register for each).
	Domains() ([]string, error)
}

// Device is a provisioned SIP device, as the /provisioning/device document
// spells it (provisioning schema).
type Device struct {
	DeviceID   string      `json:"deviceId"`
	AuthType   string      `json:"authType"` // credentials | deviceid | userid
	HA1        string      `json:"ha1,omitempty"`
	Password   string      `json:"password,omitempty"`
	Authorized *Authorized `json:"authorized,omitempty"`
	DeviceCLI  string      `json:"deviceCLI,omitempty"`
	DeviceType string      `json:"deviceType,omitempty"`
	SRTP       string      `json:"srtp,omitempty"` // gateway extension: SRTPOff, SRTPOptional, SRTPMandatory or "" (follow the caller)
}

// Values of the srtp setting of a device or trunk (a gateway extension):
// the media security of that device's or trunk's call legs.
const (
	// SRTPOff: plain RTP only; a caller who requires SRTP (RTP/SAVP) cannot
	// reach it and gets 488.
	SRTPOff = "off"
	// SRTPOptional: SDES keys offered on RTP/AVP (best effort), either
	// accepted; RTP/SAVP when the caller requires SRTP.
	SRTPOptional = "optional"
	// SRTPMandatory: RTP/SAVP only; a plain call from it gets 488.
	SRTPMandatory = "mandatory"
)

// ValidateSRTP checks an srtp setting; the error names the field.
func ValidateSRTP(mode string) error {
	switch mode {
	case "", SRTPOff, SRTPOptional, SRTPMandatory:
		return nil
	}
	return fmt.Errorf("srtp: %q is not off, optional or mandatory", mode)
}

// Validate is the one check of a device beyond its JSON types: the REST API
// runs it before storing one and StoreDirectory before serving one. The
// error reads "field: rule".
func (d *Device) Validate() error {
	switch d.AuthType {
	case "credentials", "deviceid":
	case "userid":
		if d.Authorized == nil {
			return errors.New("authorized: required when authType is userid")
		}
	default:
		return fmt.Errorf("authType: %q is not credentials, deviceid or userid", d.AuthType)
	}
	if d.Authorized != nil && d.Authorized.Invite != "" {
		if _, err := CompileMatch(d.Authorized.Invite); err != nil {
			return fmt.Errorf("authorized.invite: %w", err)
		}
	}
	return ValidateSRTP(d.SRTP)
}

// Authorized is the policy of a userid device.
type Authorized struct {
	Domain   string `json:"domain,omitempty"`
	Invite   string `json:"invite,omitempty"`   // regex of destinations it may call
	Register bool   `json:"register,omitempty"` // may register
}

// Trunk is an upstream SIP trunk: the fields of the provisioning schema's trunk document,
// plus the registration and limits of a PBX trunk API as extensions
// (camelCase, the provisioning schema's style).
type Trunk struct {
	TrunkID                     string   `json:"trunkId"`
	DestinationTarget           string   `json:"destinationTarget"`    // host[:port]
	DestinationTransport        string   `json:"destinationTransport"` // udp | tcp | tls
	DestinationMatch            string   `json:"destinationMatch"`     // "/regex/"
	DestinationRewrite          string   `json:"destinationRewrite,omitempty"`
	BlacklistPattern            string   `json:"blacklistPattern,omitempty"`
	RewriteAnumber              string   `json:"rewriteAnumber,omitempty"`
	DiversionHeader             string   `json:"diversionHeader,omitempty"`
	AddTerminatingURIParameters string   `json:"addTerminatingUriParameters,omitempty"`
	TrunkGroupID                string   `json:"trunkGroupId,omitempty"`
	SourceNetworks              []string `json:"sourceNetworks,omitempty"`
	LocalCodec                  string   `json:"localCodec,omitempty"`     // PCMU | PCMA (the schema's GSM is refused)
	TrunksideCodec              string   `json:"trunksideCodec,omitempty"` // PCMU | PCMA (the schema's GSM is refused)
	Transcode                   bool     `json:"transcode,omitempty"`
	ForceRTPRelay               bool     `json:"forceRtpRelay,omitempty"`
	ForceNatRewrites            bool     `json:"forceNatRewrites,omitempty"`
	UserName                    string   `json:"userName,omitempty"`
	Realm                       string   `json:"realm,omitempty"`
	Password                    string   `json:"password,omitempty"`
	HA1                         string   `json:"ha1,omitempty"`
	Description                 string   `json:"description,omitempty"`
	SRTP                        string   `json:"srtp,omitempty"` // gateway extension; "" is off

	// Registration fields of the PBX trunk API (extensions).
	Register           *bool  `json:"register,omitempty"`          // default: true when userName is set
	RegisterInterval   int    `json:"registerInterval,omitempty"`  // seconds, default 600
	KeepAlive          *bool  `json:"keepAlive,omitempty"`         // OPTIONS keep-alive, default true
	KeepAliveInterval  int    `json:"keepAliveInterval,omitempty"` // seconds, default 360
	Concurrency        int    `json:"concurrency,omitempty"`       // max concurrent calls, 0 = no limit
	DIDNumbers         string `json:"didNumbers,omitempty"`        // "3000;12000-18000"
	OutboundServer     string `json:"outboundServer,omitempty"`    // outbound proxy host
	OutboundServerPort int    `json:"outboundServerPort,omitempty"`
}

func (t *Trunk) registers() bool {
	if t.Register != nil {
		return *t.Register
	}
	return t.UserName != ""
}

func (t *Trunk) keepAlive() bool { return t.KeepAlive == nil || *t.KeepAlive }

func (t *Trunk) registerInterval() time.Duration {
	if t.RegisterInterval > 0 {
		return time.Duration(t.RegisterInterval) * time.Second
	}
	return 600 * time.Second
}

func (t *Trunk) keepAliveInterval() time.Duration {
	if t.KeepAliveInterval > 0 {
		return time.Duration(t.KeepAliveInterval) * time.Second
	}
	return 360 * time.Second
}

// Validate is the one check of a trunk: the REST API runs it before storing
// one and the engine before running one, so a trunk the API accepted is
// never skipped. The error reads "field: rule".
func (t *Trunk) Validate() error {
	if t.DestinationTarget == "" {
		return errors.New("destinationTarget: required")
	}
	switch strings.ToLower(t.DestinationTransport) {
	case "udp", "tcp", "tls":
	default:
		return fmt.Errorf("destinationTransport: %q is not udp, tcp or tls", t.DestinationTransport)
	}
	if t.DestinationMatch == "" {
		return errors.New("destinationMatch: required")
	}
	if err := ValidateSRTP(t.SRTP); err != nil {
		return err
	}
	for name, expr := range map[string]string{
		"destinationMatch": t.DestinationMatch, "blacklistPattern": t.BlacklistPattern,
	} {
		if expr == "" {
			continue
		}
		if _, err := CompileMatch(expr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if t.DestinationRewrite != "" {
		if _, _, err := parseRewrite(t.DestinationRewrite); err != nil {
			return fmt.Errorf("destinationRewrite: %w", err)
		}
	}
	for _, n := range t.SourceNetworks {
		if _, err := parsePrefix(n); err != nil {
			return fmt.Errorf("sourceNetworks: %w", err)
		}
	}
	for name, c := range map[string]string{"localCodec": t.LocalCodec, "trunksideCodec": t.TrunksideCodec} {
		switch c {
		case "", "PCMU", "PCMA":
		case "GSM":
			// Accepting it would quietly mean "no preference".
			return fmt.Errorf("%s: GSM cannot be honoured: the gateway has no GSM 06.10 codec (use PCMU or PCMA)", name)
		default:
			return fmt.Errorf("%s: %q is not PCMU or PCMA", name, c)
		}
	}
	if t.Concurrency < 0 {
		return fmt.Errorf("concurrency: %d is negative", t.Concurrency)
	}
	if t.RegisterInterval != 0 && t.RegisterInterval < 60 {
		return fmt.Errorf("registerInterval: %d s is below 60 s", t.RegisterInterval)
	}
	if t.KeepAliveInterval < 0 {
		return fmt.Errorf("keepAliveInterval: %d s is negative", t.KeepAliveInterval)
	}
	if t.OutboundServerPort < 0 || t.OutboundServerPort > 65535 {
		return fmt.Errorf("outboundServerPort: %d is not a port", t.OutboundServerPort)
	}
	if _, err := parseDIDs(t.DIDNumbers); err != nil {
		return fmt.Errorf("didNumbers: %w", err)
	}
	if t.registers() && t.UserName == "" {
		return errors.New("userName: required when register is on")
	}
	if t.registers() && t.Password == "" && t.HA1 == "" {
		return errors.New("password: required (or ha1) when register is on")
	}
	return nil
}

// CompileMatch compiles a destinationMatch or blacklistPattern, which the
// schema writes as "/regex/" (the slashes are optional here).
func CompileMatch(expr string) (*regexp.Regexp, error) {
	s := expr
	if len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/' {
		s = s[1 : len(s)-1]
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid regular expression: %w", expr, err)
	}
	return re, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an IP address nor a CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CallHandler takes a call the engine routed to it. The call is not yet
// answered: the handler calls Answer (or Reject). When HandleCall returns
// the engine hangs the call up (or rejects it with 480 if never answered).
type CallHandler interface {
	HandleCall(ctx context.Context, c *Call)
}

// CallHandlerFunc adapts a function to CallHandler.
type CallHandlerFunc func(ctx context.Context, c *Call)

// HandleCall calls f.
func (f CallHandlerFunc) HandleCall(ctx context.Context, c *Call) { f(ctx, c) }

// Route is one local service that inbound calls are matched against by
// called number (destinationMatch).
type Route struct {
	Name       string         // "alarmbridge/<id>", "mediaservice/<id>", for logs and call records
	Match      *regexp.Regexp // destinationMatch
	Handler    CallHandler
	DTMF       string        // toneSettings: "2833" or "inaudio"
	RTPTimeout time.Duration // rtpTimeout; 0 = the engine default (90 s)
	DataMode   bool          // alarm data call: jitter buffer tuned for tones
}

// RouteSource lists the routes of a domain in order: alarmbridges, then
// media services, then cloud SIP UAs.
type RouteSource interface {
	Routes(domain string) []Route
}

// RouteSourceFunc adapts a function to RouteSource.
type RouteSourceFunc func(domain string) []Route

// Routes calls f.
func (f RouteSourceFunc) Routes(domain string) []Route { return f(domain) }

type emptyDirectory struct{}

func (emptyDirectory) Device(string, string) (*Device, error)         { return nil, ErrNotFound }
func (emptyDirectory) Trunks(string) ([]Trunk, error)                 { return nil, nil }
func (emptyDirectory) TrustedNetworks(string) ([]netip.Prefix, error) { return nil, nil }
func (emptyDirectory) Domains() ([]string, error)                     { return nil, nil }

// StaticDirectory is an in-memory Directory, safe for concurrent use.
type StaticDirectory struct {
	mu      sync.RWMutex
	devices map[string]Device // domain NUL id
	trunks  map[string][]Trunk
	trusted map[string][]netip.Prefix
}

// NewStaticDirectory returns an empty directory.
func NewStaticDirectory() *StaticDirectory {
	return &StaticDirectory{devices: map[string]Device{}, trunks: map[string][]Trunk{}, trusted: map[string][]netip.Prefix{}}
}

// PutDevice adds or replaces a device.
func (d *StaticDirectory) PutDevice(domain string, dev Device) {
	d.mu.Lock()
	d.devices[domain+"\x00"+dev.DeviceID] = dev
	d.mu.Unlock()
}

// SetTrunks replaces the trunks of domain.
func (d *StaticDirectory) SetTrunks(domain string, t []Trunk) {
	d.mu.Lock()
	d.trunks[domain] = t
	d.mu.Unlock()
}

// SetTrusted replaces the trusted networks of domain (CIDRs or addresses).
func (d *StaticDirectory) SetTrusted(domain string, nets ...string) error {
	var ps []netip.Prefix
	for _, n := range nets {
		p, err := parsePrefix(n)
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	d.mu.Lock()
	d.trusted[domain] = ps
	d.mu.Unlock()
	return nil
}

// Device implements Directory.
func (d *StaticDirectory) Device(domain, id string) (*Device, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	dev, ok := d.devices[domain+"\x00"+id]
	if !ok {
		return nil, ErrNotFound
	}
	return &dev, nil
}

// Trunks implements Directory.
func (d *StaticDirectory) Trunks(domain string) ([]Trunk, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append([]Trunk(nil), d.trunks[domain]...), nil
}

// TrustedNetworks implements Directory.
func (d *StaticDirectory) TrustedNetworks(domain string) ([]netip.Prefix, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.trusted[domain], nil
}

// Domains implements Directory.
func (d *StaticDirectory) Domains() ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for k := range d.devices {
		add(strings.SplitN(k, "\x00", 2)[0])
	}
	for k := range d.trunks {
		add(k)
	}
	for k := range d.trusted {
		add(k)
	}
	return out, nil
}
