package api

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// Devices: /provisioning/device/{domain}[/{deviceId}].
//
// Stored at store.Coll{Domain, "device"} under the deviceId, as the JSON the
// API returns plus "password" (never returned by GET). The SIP digest realm
// is the domain: ha1 = MD5(deviceId:domain:password) (RFC 2617 §3.2.2.2).
// heartbeatStatus and heartbeatExpiration are owned by heartbeat supervision
// (the alarm side writes them into the stored document); client values are
// ignored.

func (s *Server) deviceKind() *kind {
	return &kind{res: "device", idParam: "deviceId", idField: "deviceId", listKey: "devices",
		title: "device", schema: deviceSchema(), hidden: []string{"password"}, filter: true, prepare: prepareDevice}
}

// HA1 is MD5(user:realm:password) in hex (RFC 2617 §3.2.2.2), as stored in
// device and trunk documents.
func HA1(user, realm, password string) string {
	h := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h[:])
}

// prepareDevice applies the authType rules of the provisioning schema.
func prepareDevice(c *call, id string, d, old map[string]any) (map[string]any, error) {
	var extras map[string]any
	pw, hasPw := d["password"].(string)
	switch d["authType"] {
	case "credentials":
		// A given ha1 sets the SIP password; otherwise a password given by the
		// installer (gateway extension) or the one already stored is kept;
		// otherwise a random one is generated and returned once.
		if h, ok := d["ha1"].(string); ok {
			d["ha1"] = strings.ToLower(h)
			if !hasPw {
				delete(d, "password")
			}
		} else if hasPw && pw != "" {
			d["ha1"] = HA1(id, c.domain, pw)
		} else if old != nil && old["authType"] == "credentials" && old["ha1"] != nil {
			d["ha1"] = old["ha1"]
			if p, ok := old["password"]; ok {
				d["password"] = p
			}
		} else {
			pw = newPassword()
			d["password"] = pw
			d["ha1"] = HA1(id, c.domain, pw)
			extras = map[string]any{"password": pw}
		}
	case "userid":
		if !hasPw || pw == "" {
			return nil, ferr("password", "required when authType is userid")
		}
		if _, ok := d["authorized"]; !ok {
			return nil, ferr("authorized", "required when authType is userid")
		}
	case "deviceid":
		// A whitelist entry: no secret to keep.
		delete(d, "password")
		delete(d, "ha1")
	}
	var dev engine.Device
	if err := runtimeDecode(d, &dev); err != nil {
		return nil, err
	}
	if err := dev.Validate(); err != nil {
		return nil, runtimeRefusal(err)
	}
	// Server-owned heartbeat state survives client writes.
	d["heartbeatStatus"], d["heartbeatExpiration"] = "unknown", 0
	if old != nil {
		if v, ok := old["heartbeatStatus"]; ok {
			d["heartbeatStatus"] = v
		}
		if v, ok := old["heartbeatExpiration"]; ok {
			d["heartbeatExpiration"] = v
		}
		if _, set := d["lastConfigured"]; !set {
			if v, ok := old["lastConfigured"]; ok {
				d["lastConfigured"] = v
			}
		}
	}
	return extras, nil
}

// putDevice is the provisioning schema's "add or modify a device".
func (s *Server) putDevice(c *call) error {
	k := s.devices
	doc, err := c.object()
	if err != nil {
		return err
	}
	id := doc["deviceId"].(string)
	extras, err := k.write(c, c.coll("device", false), id, doc)
	if err != nil {
		return err
	}
	return c.ok(extras)
}

// deleteAllDevices removes every device of the domain only with
// confirmDeleteAll true; otherwise it reports what it would delete.
func (s *Server) deleteAllDevices(c *call) error {
	confirm := false
	// The body is optional: without one the request only simulates.
	if c.r.ContentLength > 0 || (c.r.ContentLength < 0 && c.r.Header.Get("Content-Type") != "") {
		body, err := c.object()
		if err != nil {
			return err
		}
		confirm, _ = body["confirmDeleteAll"].(bool)
	}
	coll := c.coll("device", false)
	if !confirm {
		n, err := s.db.Count(coll, "")
		if err != nil {
			return err
		}
		return c.ok(map[string]any{"message": fmt.Sprintf("would delete %d devices; nothing deleted (set confirmDeleteAll to true)", n), "count": n, "deleted": false})
	}
	n, err := s.db.DeleteAll(coll)
	if err != nil {
		return err
	}
	return c.ok(map[string]any{"message": fmt.Sprintf("deleted %d devices", n), "count": n, "deleted": true})
}

// normMAC reduces a MAC address to 12 lowercase hex digits ("" if it is not one).
func normMAC(s string) string {
	s = strings.ToLower(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "cfg"), ".xml")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
			b.WriteRune(r)
		case r == ':' || r == '-' || r == '.':
		default:
			return ""
		}
	}
	if b.Len() != 12 {
		return ""
	}
	return b.String()
}

// grandstream serves the configuration file a Grandstream gateway or ATA
// downloads (by MAC, authenticated by ?k=KEY), and stamps lastConfigured.
func (s *Server) grandstream(c *call) error {
	mac := normMAC(c.r.PathValue("mac"))
	if mac == "" {
		return ferr("mac", "must be a MAC address (12 hexadecimal digits, separators allowed)")
	}
	coll := c.coll("device", false)
	var dev map[string]any
	err := s.db.Update(func(tx *store.Tx) error {
		var id string
		err := tx.ForEach(coll, "", func(k string, doc []byte) (bool, error) {
			if !bytes.Contains(doc, []byte(`"macAddress"`)) {
				return true, nil
			}
			m, err := decodeDoc(doc)
			if err != nil {
				return false, err
			}
			if ma, _ := m["macAddress"].(string); normMAC(ma) == mac {
				id, dev = k, m
				return false, nil
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if dev == nil {
			return notFound("device with MAC", mac)
		}
		dev["lastConfigured"] = nowMillis()
		b, err := json.Marshal(dev)
		if err != nil {
			return err
		}
		return tx.Put(coll, id, b)
	})
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/xml")
	c.w.WriteHeader(http.StatusOK)
	_, err = c.w.Write(grandstreamXML(mac, c.domain, s.sipAdvertised(c.r), dev))
	return err
}

// sipAdvertised is the host:port an ATA that downloads its configuration
// through r can register to: --advertise; else the SIP listen host when it
// is one address; else the local address of the interface r came in on
// (the one the ATA reached the gateway at). The port is --advertise's, or
// SIP's.
func (s *Server) sipAdvertised(r *http.Request) string {
	sipAddr := "127.0.0.1:5060"
	if s.cfg.SIPAddr != nil {
		sipAddr = s.cfg.SIPAddr()
	}
	sipHost, sipPort, _ := net.SplitHostPort(sipAddr)
	host, port := s.cfg.SIPAdvertise, ""
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	if host == "" {
		if ip := net.ParseIP(sipHost); ip != nil && !ip.IsUnspecified() {
			host = sipHost
		} else if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if h, _, err := net.SplitHostPort(la.String()); err == nil {
				host = h
			}
		}
	}
	if port == "" {
		port = sipPort
	}
	if host == "" {
		return ""
	}
	if port == "" {
		return net.JoinHostPort(host, "5060")
	}
	return net.JoinHostPort(host, port)
}

// grandstreamXML renders the device as a Grandstream provisioning file
// (gs_provision). P-values: P47 SIP server, P35 SIP user id, P36 auth id,
// P34 auth password, P3 display name, P270 account name, P31 register.
func grandstreamXML(mac, domain, server string, dev map[string]any) []byte {
	type p struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	}
	id, _ := dev["deviceId"].(string)
	name, _ := dev["description"].(string)
	if name == "" {
		name = id
	}
	if server == "" {
		server = domain
	}
	ps := []p{
		{XMLName: xml.Name{Local: "P47"}, Value: server},
		{XMLName: xml.Name{Local: "P35"}, Value: id},
		{XMLName: xml.Name{Local: "P36"}, Value: id},
		{XMLName: xml.Name{Local: "P3"}, Value: name},
		{XMLName: xml.Name{Local: "P270"}, Value: id},
		{XMLName: xml.Name{Local: "P31"}, Value: "1"},
	}
	if pw, ok := dev["password"].(string); ok {
		ps = append(ps, p{XMLName: xml.Name{Local: "P34"}, Value: pw})
	}
	doc := struct {
		XMLName xml.Name `xml:"gs_provision"`
		Version string   `xml:"version,attr"`
		MAC     string   `xml:"mac"`
		Config  struct {
			Version string `xml:"version,attr"`
			P       []p
		} `xml:"config"`
	}{Version: "1", MAC: mac}
	doc.Config.Version = "1"
	doc.Config.P = ps
	b, _ := xml.MarshalIndent(doc, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}
