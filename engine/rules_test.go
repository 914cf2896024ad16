package engine

import (
	"bytes"
	"strings"
	"testing"
)

func TestTrunkRules(t *testing.T) {
	tr, err := compileTrunk("d", Trunk{TrunkID: "t", DestinationTarget: "10.0.0.1:5070", DestinationTransport: "udp",
		DestinationMatch: "/^(00|\\+)/", BlacklistPattern: "/^00900/", DestinationRewrite: "s/^00(\\d+)/+\\1/",
		DIDNumbers: "3000;12000-18000", SourceNetworks: []string{"192.0.2.0/24", "198.51.100.7"}, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.rwRe.ReplaceAllString("0046123", tr.rwRepl); got != "+46123" {
		t.Fatalf("destinationRewrite gave %q, want +46123", got)
	}
	for num, want := range map[string]bool{"3000": true, "12000": true, "18000": true, "18001": false, "2999": false, "abc": false} {
		if tr.ownsDID(num) != want {
			t.Fatalf("DID %s owned = %v, want %v", num, !want, want)
		}
	}
	s := &trunkSet{trunks: map[string][]*trunk{"d": {tr}}}
	if got, dest, err := s.outbound("d", "0046123"); got != tr || dest != "+46123" || err != nil {
		t.Fatalf("outbound 0046123: %v %q %v", got, dest, err)
	}
	if got, _, err := s.outbound("d", "00900123"); got != nil || err == nil || err.(*routeError).code != 403 {
		t.Fatalf("blacklisted number: %v %v, want 403", got, err)
	}
	if got, _, err := s.outbound("d", "123"); got != nil || err != nil {
		t.Fatalf("unmatched number: %v %v, want no trunk and no error", got, err)
	}
	tr.acquire()
	tr.acquire()
	if tr.acquire() {
		t.Fatal("third call admitted over concurrency 2")
	}
	if _, _, err := s.outbound("d", "0046123"); err == nil || err.(*routeError).code != 503 {
		t.Fatalf("full trunk: %v, want 503", err)
	}
	tr.release()
	tr.up.Store(false)
	if _, _, err := s.outbound("d", "0046123"); err == nil || !strings.Contains(err.Error(), "down") {
		t.Fatalf("down trunk: %v", err)
	}
	if s.fromSource("d", "192.0.2.44:5060") != tr || s.fromSource("d", "198.51.100.7:1") != tr || s.fromSource("d", "198.51.100.8:5060") != nil {
		t.Fatal("sourceNetworks not applied to inbound sources")
	}
}

func TestTrunkValidateNamesTheField(t *testing.T) {
	base := Trunk{DestinationTarget: "h", DestinationTransport: "udp", DestinationMatch: "/.*/"}
	for field, mut := range map[string]func(*Trunk){
		"destinationTarget":    func(t *Trunk) { t.DestinationTarget = "" },
		"destinationTransport": func(t *Trunk) { t.DestinationTransport = "sctp" },
		"destinationMatch":     func(t *Trunk) { t.DestinationMatch = "/(/" },
		"blacklistPattern":     func(t *Trunk) { t.BlacklistPattern = "[" },
		"destinationRewrite":   func(t *Trunk) { t.DestinationRewrite = "nothing" },
		"sourceNetworks":       func(t *Trunk) { t.SourceNetworks = []string{"10.0.0.0/33"} },
		"trunksideCodec":       func(t *Trunk) { t.TrunksideCodec = "OPUS" },
		"didNumbers":           func(t *Trunk) { t.DIDNumbers = "5-1" },
		"registerInterval":     func(t *Trunk) { t.RegisterInterval = 10 },
		"userName":             func(t *Trunk) { on := true; t.Register = &on },
		"localCodec":           func(t *Trunk) { t.LocalCodec = "GSM" },
		"password":             func(t *Trunk) { t.UserName = "u" },
	} {
		tr := base
		mut(&tr)
		err := tr.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("%s: error %v does not name the field", field, err)
		}
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("valid trunk refused: %v", err)
	}
}

func TestTrunkJSONSourceNetworksForms(t *testing.T) {
	for _, doc := range []string{
		`{"destinationTarget":"h","sourceNetworks":["10.0.0.0/8","192.0.2.1"]}`,
		`{"destinationTarget":"h","sourceNetworks":"10.0.0.0/8;192.0.2.1"}`,
	} {
		var tr Trunk
		if err := tr.UnmarshalJSON([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		if len(tr.SourceNetworks) != 2 || tr.SourceNetworks[1] != "192.0.2.1" || tr.DestinationTarget != "h" {
			t.Fatalf("%s -> %+v", doc, tr)
		}
	}
}

func FuzzParseDIDs(f *testing.F) {
	f.Add("3000;12000-18000")
	f.Add("+4670;-;1-")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := parseDIDs(s)
		for _, r := range rs {
			if err == nil && r.lo > r.hi {
				t.Fatalf("%q gave an inverted range %v", s, r)
			}
		}
	})
}

func FuzzRewrite(f *testing.F) {
	f.Add("s/^00(\\d+)/+\\1/", "0046123")
	f.Add("/a/b/", "aaa")
	f.Fuzz(func(t *testing.T, rule, num string) {
		re, repl, err := parseRewrite(rule)
		if err == nil {
			_ = re.ReplaceAllString(num, repl)
		}
	})
}

// FuzzMessageLen checks the TCP framing the SIP log uses: a length it
// returns is within the buffer and ends a header block plus its body.
func FuzzMessageLen(f *testing.F) {
	f.Add([]byte("OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabcREST"))
	f.Add([]byte("INVITE sip:a SIP/2.0\r\nl: 99999999999999999999\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := messageLen(b)
		if n < 0 || n > len(b) {
			t.Fatalf("messageLen = %d for %d bytes", n, len(b))
		}
		if n > 0 && !bytes.Contains(b[:n], []byte("\r\n\r\n")) {
			t.Fatalf("a message of %d bytes without its header end", n)
		}
	})
}

// TestInviteAllowed: a userid device's Authorized.Invite, asked twice (the
// second time from the kept compilation); an invalid pattern allows nothing.
func TestInviteAllowed(t *testing.T) {
	var e Engine
	for _, tc := range []struct {
		expr, called string
		ok           bool
	}{{"/^1/", "123", true}, {"/^1/", "223", false}, {"^9", "91", true}, {"(", "1", false}} {
		for range 2 {
			if got := e.inviteAllowed(tc.expr, tc.called); got != tc.ok {
				t.Errorf("inviteAllowed(%q, %q) = %v, want %v", tc.expr, tc.called, got, tc.ok)
			}
		}
	}
}
