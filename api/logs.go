package api

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// SIP logs (from the store's SIP log ring), the per-call pcap export and the
// call statistics (from the store's call records).

func (s *Server) sipLogs(c *call) error {
	f, err := c.object()
	if err != nil {
		return err
	}
	q := store.SIPQuery{Limit: 100}
	q.Pattern, _ = f["filterPattern"].(string)
	if n, ok := num64(f["limit"]); ok && n > 0 {
		q.Limit = int(n)
	}
	if n, ok := num64(f["startTime"]); ok && n > 0 {
		q.From = time.UnixMilli(n)
	}
	if n, ok := num64(f["endTime"]); ok && n > 0 {
		q.To = time.UnixMilli(n)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return ferr("endTime", "must not be before startTime")
	}
	msgs, err := s.db.QuerySIP(c.domain, q)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(msgs))
	for _, m := range msgs {
		items = append(items, logItem(m))
	}
	return c.ok(map[string]any{"logItems": items})
}

func num64(v any) (int64, bool) {
	switch n := v.(type) {
	case interface{ Int64() (int64, error) }:
		x, err := n.Int64()
		return x, err == nil
	case float64:
		return int64(n), true
	}
	return 0, false
}

// logItem turns a raw SIP message into the seed's logItems entry.
func logItem(m store.SIPMessage) map[string]any {
	head, body, _ := strings.Cut(m.Raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if len(lines) == 1 && strings.Contains(head, "\n") { // tolerate bare LF
		head, body, _ = strings.Cut(m.Raw, "\n\n")
		lines = strings.Split(head, "\n")
	}
	it := map[string]any{"timeStamp": m.Time.UnixMilli(), "transport": m.Transport, "body": body}
	srcIP, srcPort := splitHostPort(m.Src)
	dstIP, dstPort := splitHostPort(m.Dst)
	it["srcIp"], it["srcPort"], it["dstIp"], it["dstPort"] = srcIP, srcPort, dstIP, dstPort
	start := strings.TrimSpace(lines[0])
	if rest, ok := strings.CutPrefix(start, "SIP/2.0 "); ok {
		code, reason, _ := strings.Cut(rest, " ")
		it["type"], it["statusCode"], it["reason"] = "response", code, reason
	} else {
		f := strings.Fields(start)
		it["type"] = "request"
		if len(f) >= 2 {
			it["method"], it["requestUri"] = f[0], f[1]
		}
	}
	hdrs := map[string]any{}
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch old := hdrs[name].(type) {
		case nil:
			hdrs[name] = val
		case string:
			hdrs[name] = []string{old, val}
		case []string:
			hdrs[name] = append(old, val)
		}
	}
	it["sipHeaders"] = hdrs
	return it
}

func splitHostPort(a string) (string, int) {
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return a, 0
	}
	return ap.Addr().String(), int(ap.Port())
}

// callPcap exports the SIP messages of one call as a pcap file (Ethernet,
// IPv4/IPv6, UDP), for Wireshark or sngrep. TCP and TLS messages are written
// as UDP datagrams: the content is what matters for reading a call flow.
func (s *Server) callPcap(c *call) error {
	callID := c.r.PathValue("callId")
	msgs, err := s.db.QuerySIP(c.domain, store.SIPQuery{CallID: callID, Limit: 10000})
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return notFound("SIP messages of call", callID)
	}
	c.w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	c.w.Header().Set("Content-Disposition", `attachment; filename="`+sanitizeFile(callID)+`.pcap"`)
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write(PcapSIP(msgs))
	return err
}

func sanitizeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}

// PcapSIP renders SIP messages as a classic pcap file (LINKTYPE_ETHERNET).
func PcapSIP(msgs []store.SIPMessage) []byte {
	out := make([]byte, 24, 24+len(msgs)*600)
	binary.LittleEndian.PutUint32(out[0:], 0xa1b2c3d4) // microsecond pcap
	binary.LittleEndian.PutUint16(out[4:], 2)
	binary.LittleEndian.PutUint16(out[6:], 4)
	binary.LittleEndian.PutUint32(out[16:], 65535)
	binary.LittleEndian.PutUint32(out[20:], 1)
	for _, m := range msgs {
		src, err1 := netip.ParseAddrPort(m.Src)
		dst, err2 := netip.ParseAddrPort(m.Dst)
		if err1 != nil || err2 != nil || src.Addr().Is4() != dst.Addr().Is4() {
			continue
		}
		pkt := udpFrame(src, dst, []byte(m.Raw))
		var rec [16]byte
		us := m.Time.UnixMicro()
		binary.LittleEndian.PutUint32(rec[0:], uint32(us/1e6))
		binary.LittleEndian.PutUint32(rec[4:], uint32(us%1e6))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
		out = append(out, rec[:]...)
		out = append(out, pkt...)
	}
	return out
}

// udpFrame builds Ethernet + IP + UDP around payload. The UDP checksum is
// computed (RFC 768; mandatory over IPv6, RFC 8200 §8.1).
func udpFrame(src, dst netip.AddrPort, payload []byte) []byte {
	v4 := src.Addr().Is4()
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	if !v4 {
		eth[12], eth[13] = 0x86, 0xdd
	}
	udpLen := 8 + len(payload)
	udp := make([]byte, 8, udpLen)
	binary.BigEndian.PutUint16(udp[0:], src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	udp = append(udp, payload...)
	var ip []byte
	var pseudo []byte
	if v4 {
		ip = make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		binary.BigEndian.PutUint16(ip[10:], ^sum16(ip, 0))
		pseudo = append(append(append([]byte{}, s4[:]...), d4[:]...), 0, 17, byte(udpLen>>8), byte(udpLen))
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		ip[6], ip[7] = 17, 64
		s6, d6 := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:], s6[:])
		copy(ip[24:], d6[:])
		pseudo = append(append(append([]byte{}, s6[:]...), d6[:]...), 0, 0, byte(udpLen>>8), byte(udpLen), 0, 0, 0, 17)
	}
	ck := ^sum16(udp, sum16(pseudo, 0))
	if ck == 0 {
		ck = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], ck)
	return append(append(eth, ip...), udp...)
}

// sum16 is the ones' complement sum of RFC 1071, folded, continuing from acc.
func sum16(b []byte, acc uint16) uint16 {
	s := uint32(acc)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// statistics aggregates call durations (answer to end, in seconds) in time
// buckets (UTC): hour, day or month. Type cdr_siprec counts siprec calls as
// the seed says; the gateway extension "cdr" counts every call.
func (s *Server) statistics(c *call) error {
	typ, bucket := c.r.PathValue("type"), c.r.PathValue("bucketsize")
	if typ != "cdr_siprec" && typ != "cdr" {
		return ferr("type", "must be one of cdr_siprec, cdr")
	}
	var format string
	switch bucket {
	case "hour":
		format = "2006-01-02T15:00Z"
	case "day":
		format = "2006-01-02"
	case "month":
		format = "2006-01"
	default:
		return ferr("bucketsize", "must be one of hour, day, month")
	}
	type agg struct {
		name          string
		n             int
		min, max, sum float64
	}
	var order []*agg
	by := map[string]*agg{}
	err := s.db.Calls(c.domain, time.Time{}, time.Time{}, func(r store.CallRecord) bool {
		if typ == "cdr_siprec" && r.Kind != "siprec" {
			return true
		}
		if r.End.IsZero() {
			return true // still up: counted when it ends
		}
		name := r.Start.UTC().Format(format)
		a := by[name]
		if a == nil {
			a = &agg{name: name, min: math.Inf(1)}
			by[name] = a
			order = append(order, a)
		}
		d := r.Duration().Seconds()
		a.n++
		a.sum += d
		a.min, a.max = math.Min(a.min, d), math.Max(a.max, d)
		return true
	})
	if err != nil {
		return err
	}
	stats := make([]any, 0, len(order))
	for _, a := range order {
		stats = append(stats, map[string]any{
			"name": a.name, "num_calls": a.n, "min_duration": round3(a.min), "max_duration": round3(a.max),
			"sum_duration": round3(a.sum), "average_duration": round3(a.sum / float64(a.n)),
		})
	}
	return c.ok(map[string]any{"statistics": stats})
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(fmt.Sprintf("%.3f", f), 64)
	return v
}
