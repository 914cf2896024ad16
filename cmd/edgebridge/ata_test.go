package main

import (
	"encoding/xml"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// ataConfig downloads the configuration file of the ATA with mac as the ATA
// does (GET with ?k=) and returns its P-values.
func ataConfig(t *testing.T, d *daemonProc, key, mac string) map[string]string {
	t.Helper()
	code, body, err := d.req("", "GET", "/provisioning/grandstream/local/"+mac+"?k="+key, "")
	if err != nil || code != 200 {
		t.Fatalf("download: %d %s %v", code, body, err)
	}
	var doc struct {
		Config struct {
			P []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"config"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("config file: %v\n%s", err, body)
	}
	ps := map[string]string{}
	for _, p := range doc.Config.P {
		ps[p.XMLName.Local] = p.Value
	}
	return ps
}

// The ATA's configuration names a SIP server it can register to: with SIP
// on every interface, the address the ATA downloaded through (127.0.0.2
// here, not the bind address 0.0.0.0); with --advertise, that address.
// SIPp then registers to the address in P47 as the ATA would, and is
// challenged there.
func TestATADownloadAdvertisesAReachableAddress(t *testing.T) {
	const key = "ata-admin-key-0123456789"
	if c, err := net.ListenPacket("udp", "127.0.0.2:0"); err != nil {
		t.Fatalf("this test needs 127.0.0.2 (Linux loopback /8): %v", err)
	} else {
		c.Close()
	}
	for _, c := range []struct {
		name string
		args []string
		host string // P47's host
	}{
		{"interface of the download", nil, "127.0.0.2"},
		{"--advertise", []string{"--advertise", "127.0.0.3"}, "127.0.0.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := startDaemon(t, t.TempDir(), nil, append([]string{"--admin-key", key, "--http", "127.0.0.2:0", "--sip", "0.0.0.0:0", "--rtp-ports", testkit.PortRangeArg(t, 100)}, c.args...)...)
			code, body, err := d.req(key, "PUT", "/provisioning/device/local", `{"deviceId":"ata1","authType":"credentials","macAddress":"00:0b:82:aa:bb:01"}`)
			if err != nil || code != 200 {
				t.Fatalf("device: %d %s %v", code, body, err)
			}
			ps := ataConfig(t, d, key, "000b82aabb01")
			_, sipPort, _ := net.SplitHostPort(d.sipAddr(t))
			if want := net.JoinHostPort(c.host, sipPort); ps["P47"] != want || ps["P35"] != "ata1" || ps["P34"] == "" {
				t.Fatalf("P47 %q (want %q), P35 %q, P34 set %v", ps["P47"], want, ps["P35"], ps["P34"] != "")
			}
			wd := t.TempDir()
			reg := testkit.StartSIPp(t, wd, false, ps["P47"], "-sf", testkit.SIPpScenario(t, wd, "register_challenged.xml"), "-s", ps["P35"], "-m", "1")
			// The gateway answers there with its challenge (a credentials
			// device is always challenged; SIPp answers only the first
			// algorithm offered, SHA-256, with MD5, so it stops here).
			if err := reg.Wait(20 * time.Second); err != nil {
				t.Fatalf("SIPp's REGISTER to P47 %s not challenged: %v\n%s", ps["P47"], err, reg.Report())
			}
			if !strings.Contains(strings.Join(reg.Received(), "\n"), "401 Unauthorized") {
				t.Fatalf("no 401 to the REGISTER:\n%s", reg.Report())
			}
		})
	}
}
