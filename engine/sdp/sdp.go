package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Direction is a media direction attribute (RFC 3264 §5.1), used for hold.
type Direction uint8

// Directions. The zero value means the attribute was absent, which RFC 3264
// §5.1 reads as sendrecv.
const (
	DirUnset Direction = iota
	SendRecv
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	default:
		return "sendrecv"
	}
}

// Reverse is the direction an answerer takes toward an offer with d
// (RFC 3264 §6.1): sendonly ↔ recvonly.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	default:
		return SendRecv
	}
}

// Sends reports whether the side with this direction sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly || d == DirUnset }

// Receives reports whether the side with this direction receives media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly || d == DirUnset }

// Origin is the o= line.
type Origin struct {
	Username    string
	SessionID   uint64
	SessVersion uint64
	Addr        netip.Addr
}

// RTPMap is one a=rtpmap line: payload type to encoding name and clock rate.
type RTPMap struct {
	PT       uint8
	Name     string // as written, e.g. "PCMA", "telephone-event"
	Rate     int
	Channels int // 0 when absent
}

// Attribute is any a= line kept verbatim (Value is empty for flags).
type Attribute struct {
	Key, Value string
}

// Media is one m= section.
type Media struct {
	Type      string // "audio", "video", ...
	Port      int    // 0 declines the stream (RFC 3264 §6)
	Proto     string // "RTP/AVP", "RTP/SAVP", ...
	Formats   []string
	Conn      netip.Addr // media-level c=, invalid when absent
	RTPMaps   []RTPMap
	FMTP      map[uint8]string
	Direction Direction
	Ptime     int // a=ptime in ms, 0 when absent
	RTCPPort  int // a=rtcp port, 0 when absent
	RTCPMux   bool
	Crypto    []Crypto
	Attrs     []Attribute // other attributes, in order
}

// Session is a parsed session description.
type Session struct {
	Origin    Origin
	Name      string
	Conn      netip.Addr // session-level c=
	Direction Direction  // session-level direction attribute
	Media     []Media
	Attrs     []Attribute // other session-level attributes
}

// Errors returned by Parse.
var (
	ErrSyntax = errors.New("sdp: syntax")
)

// maxSDP bounds what we parse; a SIP body is at most a few kB.
const maxSDP = 64 << 10

// Parse reads a session description. Lines may end in CRLF or LF. Unknown
// lines and attributes are kept or skipped, never an error; a malformed line
// the gateway needs (v, o, c, m, rtpmap, crypto, ptime) is an error naming it.
func Parse(b []byte) (*Session, error) {
	if len(b) > maxSDP {
		return nil, fmt.Errorf("%w: body is %d bytes, limit %d", ErrSyntax, len(b), maxSDP)
	}
	s := &Session{}
	var m *Media
	sawV := false
	for lineNo, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("%w: line %d %q is not type=value", ErrSyntax, lineNo+1, clip(line))
		}
		typ, val := line[0], line[2:]
		if !sawV {
			if typ != 'v' {
				return nil, fmt.Errorf("%w: first line must be v=, got %q", ErrSyntax, clip(line))
			}
			if val != "0" {
				return nil, fmt.Errorf("%w: v=%q, only version 0 exists", ErrSyntax, clip(val))
			}
			sawV = true
			continue
		}
		var err error
		switch typ {
		case 'v':
			return nil, fmt.Errorf("%w: line %d: second v= line", ErrSyntax, lineNo+1)
		case 'o':
			err = parseOrigin(&s.Origin, val)
		case 's':
			s.Name = val
		case 'c':
			var a netip.Addr
			a, err = parseConn(val)
			if m != nil {
				m.Conn = a
			} else {
				s.Conn = a
			}
		case 'm':
			s.Media = append(s.Media, Media{})
			m = &s.Media[len(s.Media)-1]
			err = parseMediaLine(m, val)
		case 'a':
			if m == nil {
				err = parseSessionAttr(s, val)
			} else {
				err = parseMediaAttr(m, val)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
		}
	}
	if !sawV {
		return nil, fmt.Errorf("%w: empty description (no v= line)", ErrSyntax)
	}
	return s, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func parseOrigin(o *Origin, v string) error {
	f := strings.Fields(v)
	if len(f) != 6 {
		return fmt.Errorf("%w: o= needs 6 fields, got %d", ErrSyntax, len(f))
	}
	o.Username = f[0]
	var err error
	if o.SessionID, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return fmt.Errorf("%w: o= sess-id %q is not a number", ErrSyntax, clip(f[1]))
	}
	if o.SessVersion, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return fmt.Errorf("%w: o= sess-version %q is not a number", ErrSyntax, clip(f[2]))
	}
	// The origin address may be a host name; only keep it when literal.
	o.Addr, _ = netip.ParseAddr(f[5])
	return nil
}

// parseConn reads "IN IP4 192.0.2.1" (a TTL or count suffix is ignored).
func parseConn(v string) (netip.Addr, error) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("%w: c= must be \"IN IP4|IP6 address\", got %q", ErrSyntax, clip(v))
	}
	host, _, _ := strings.Cut(f[2], "/")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q is not an IP address", ErrSyntax, clip(host))
	}
	if (f[1] == "IP4") != a.Is4() {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q does not match %s", ErrSyntax, clip(host), f[1])
	}
	return a, nil
}

func parseMediaLine(m *Media, v string) error {
	f := strings.Fields(v)
	if len(f) < 3 {
		return fmt.Errorf("%w: m= needs media, port, proto, got %q", ErrSyntax, clip(v))
	}
	m.Type = f[0]
	port, _, _ := strings.Cut(f[1], "/")
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%w: m= port %q is not 0-65535", ErrSyntax, clip(f[1]))
	}
	m.Port = p
	m.Proto = f[2]
	m.Formats = f[3:]
	return nil
}

func parseDirection(key string) (Direction, bool) {
	switch key {
	case "sendrecv":
		return SendRecv, true
	case "sendonly":
		return SendOnly, true
	case "recvonly":
		return RecvOnly, true
	case "inactive":
		return Inactive, true
	}
	return DirUnset, false
}

func parseSessionAttr(s *Session, v string) error {
	key, val, _ := strings.Cut(v, ":")
	if d, ok := parseDirection(key); ok {
		s.Direction = d
		return nil
	}
	s.Attrs = append(s.Attrs, Attribute{key, val})
	return nil
}

func parseMediaAttr(m *Media, v string) error {
	key, val, _ := strings.Cut(v, ":")
	if d, ok := parseDirection(key); ok {
		m.Direction = d
		return nil
	}
	switch key {
	case "rtpmap":
		r, err := parseRTPMap(val)
		if err != nil {
			return err
		}
		m.RTPMaps = append(m.RTPMaps, r)
	case "fmtp":
		pt, params, _ := strings.Cut(val, " ")
		n, err := strconv.ParseUint(pt, 10, 7)
		if err != nil {
			return fmt.Errorf("%w: a=fmtp payload type %q is not 0-127", ErrSyntax, clip(pt))
		}
		if m.FMTP == nil {
			m.FMTP = map[uint8]string{}
		}
		m.FMTP[uint8(n)] = strings.TrimSpace(params)
	case "ptime":
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n <= 0 || n > 1000 {
			return fmt.Errorf("%w: a=ptime %q is not 1-1000 ms", ErrSyntax, clip(val))
		}
		m.Ptime = n
	case "rtcp":
		port, _, _ := strings.Cut(strings.TrimSpace(val), " ")
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("%w: a=rtcp port %q is not 1-65535", ErrSyntax, clip(val))
		}
		m.RTCPPort = n
	case "rtcp-mux":
		m.RTCPMux = true
	case "crypto":
		c, err := ParseCrypto(val)
		if err != nil {
			return err
		}
		m.Crypto = append(m.Crypto, c)
	default:
		m.Attrs = append(m.Attrs, Attribute{key, val})
	}
	return nil
}

func parseRTPMap(v string) (RTPMap, error) {
	pt, enc, ok := strings.Cut(v, " ")
	if !ok {
		return RTPMap{}, fmt.Errorf("%w: a=rtpmap %q needs \"pt name/rate\"", ErrSyntax, clip(v))
	}
	n, err := strconv.ParseUint(pt, 10, 7)
	if err != nil {
		return RTPMap{}, fmt.Errorf("%w: a=rtpmap payload type %q is not 0-127", ErrSyntax, clip(pt))
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || parts[0] == "" {
		return RTPMap{}, fmt.Errorf("%w: a=rtpmap %q needs name/rate", ErrSyntax, clip(v))
	}
	rate, err := strconv.Atoi(parts[1])
	if err != nil || rate <= 0 {
		return RTPMap{}, fmt.Errorf("%w: a=rtpmap clock rate %q is not a positive number", ErrSyntax, clip(parts[1]))
	}
	r := RTPMap{PT: uint8(n), Name: parts[0], Rate: rate}
	if len(parts) > 2 {
		if r.Channels, err = strconv.Atoi(parts[2]); err != nil || r.Channels <= 0 {
			return RTPMap{}, fmt.Errorf("%w: a=rtpmap channels %q is not a positive number", ErrSyntax, clip(parts[2]))
		}
	}
	return r, nil
}

// RTPMapFor returns the rtpmap of payload type pt, falling back to the static
// assignments of RFC 3551 table 4 for the ones the gateway knows.
func (m *Media) RTPMapFor(pt uint8) (RTPMap, bool) {
	for _, r := range m.RTPMaps {
		if r.PT == pt {
			return r, true
		}
	}
	switch pt {
	case 0:
		return RTPMap{PT: 0, Name: "PCMU", Rate: 8000}, true
	case 8:
		return RTPMap{PT: 8, Name: "PCMA", Rate: 8000}, true
	}
	return RTPMap{}, false
}

// Addr is the connection address of the media: media-level c= over
// session-level c=.
func (s *Session) Addr(m *Media) netip.Addr {
	if m.Conn.IsValid() {
		return m.Conn
	}
	return s.Conn
}

// Marshal writes the description with CRLF line ends (RFC 8866 §5).
func (s *Session) Marshal() []byte {
	var b strings.Builder
	w := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	user := s.Origin.Username
	if user == "" {
		user = "-"
	}
	w("v=0")
	w("o=%s %d %d IN %s %s", user, s.Origin.SessionID, s.Origin.SessVersion, ipVer(s.Origin.Addr), addrOr(s.Origin.Addr))
	name := s.Name
	if name == "" {
		name = "-"
	}
	w("s=%s", name)
	if s.Conn.IsValid() {
		w("c=IN %s %s", ipVer(s.Conn), s.Conn)
	}
	w("t=0 0")
	if s.Direction != DirUnset {
		w("a=%s", s.Direction)
	}
	for _, a := range s.Attrs {
		writeAttr(w, a)
	}
	for i := range s.Media {
		m := &s.Media[i]
		line := fmt.Sprintf("m=%s %d %s", m.Type, m.Port, m.Proto)
		if len(m.Formats) > 0 {
			line += " " + strings.Join(m.Formats, " ")
		}
		w("%s", line)
		if m.Conn.IsValid() {
			w("c=IN %s %s", ipVer(m.Conn), m.Conn)
		}
		for _, r := range m.RTPMaps {
			if r.Channels > 0 {
				w("a=rtpmap:%d %s/%d/%d", r.PT, r.Name, r.Rate, r.Channels)
			} else {
				w("a=rtpmap:%d %s/%d", r.PT, r.Name, r.Rate)
			}
			if p, ok := m.FMTP[r.PT]; ok {
				w("a=fmtp:%d %s", r.PT, p)
			}
		}
		if m.Ptime > 0 {
			w("a=ptime:%d", m.Ptime)
		}
		if m.RTCPPort > 0 {
			w("a=rtcp:%d", m.RTCPPort)
		}
		if m.RTCPMux {
			w("a=rtcp-mux")
		}
		for _, c := range m.Crypto {
			w("a=crypto:%s", c)
		}
		if m.Direction != DirUnset {
			w("a=%s", m.Direction)
		}
		for _, a := range m.Attrs {
			writeAttr(w, a)
		}
	}
	return []byte(b.String())
}

func writeAttr(w func(string, ...any), a Attribute) {
	if a.Value == "" {
		w("a=%s", a.Key)
	} else {
		w("a=%s:%s", a.Key, a.Value)
	}
}

func ipVer(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "IP6"
	}
	return "IP4"
}

func addrOr(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.Unmap().String()
}
