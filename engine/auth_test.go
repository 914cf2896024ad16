package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// response answers a challenge the way a phone does, for nc.
func response(t *testing.T, chal, method, uri string, nc int) string {
	t.Helper()
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: "u1", Password: "pw", Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func mustURI(t *testing.T, s string) sip.Uri {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDigestReplayAndURIBinding: a captured Authorization header does not
// work again (nonce count must increase), nor for another Request-URI, nor
// from another address, nor after the nonce's short life.
func TestDigestReplayAndURIBinding(t *testing.T) {
	a := newDigestAuth(30 * time.Second)
	now := time.Unix(1700000000, 0)
	a.now = func() time.Time { return now }
	cred := credential{user: "u1", password: "pw"}
	ruri := mustURI(t, "sip:5551@gw.example")
	chal := a.challenges("r", "192.0.2.1", []string{"MD5"}, false)[0]
	first := response(t, chal, "INVITE", "sip:5551@gw.example", 1)
	if got := a.verify(first, "INVITE", "r", "192.0.2.1", ruri, cred); got != authOK {
		t.Fatalf("first use: %v, want authOK", got)
	}
	if got := a.verify(first, "INVITE", "r", "192.0.2.1", ruri, cred); got != authFailed {
		t.Fatalf("the same header replayed: %v, want authFailed", got)
	}
	second := response(t, chal, "INVITE", "sip:5551@gw.example", 2)
	if got := a.verify(second, "INVITE", "r", "192.0.2.1", mustURI(t, "sip:00447700900123@gw.example"), cred); got != authFailed {
		t.Fatalf("a response for 5551 used to call another number: %v, want authFailed", got)
	}
	if got := a.verify(second, "INVITE", "r", "198.51.100.9", ruri, cred); got != authFailed {
		t.Fatalf("from another address: %v, want authFailed", got)
	}
	if got := a.verify(second, "INVITE", "r", "192.0.2.1", ruri, cred); got != authOK {
		t.Fatalf("next count: %v, want authOK", got)
	}
	now = now.Add(31 * time.Second)
	third := response(t, chal, "INVITE", "sip:5551@gw.example", 3)
	if got := a.verify(third, "INVITE", "r", "192.0.2.1", ruri, cred); got != authStale {
		t.Fatalf("after the nonce's life: %v, want authStale", got)
	}
	// A nonce the gateway never issued is stale at best, never accepted.
	forged := strings.Replace(third, `nonce="`, `nonce="0`, 1)
	if got := a.verify(forged, "INVITE", "r", "192.0.2.1", ruri, cred); got == authOK {
		t.Fatal("a nonce never issued authenticated")
	}
	// Two challenges, two nonces.
	c1 := a.challenges("r", "192.0.2.1", []string{"MD5"}, false)[0]
	c2 := a.challenges("r", "192.0.2.1", []string{"MD5"}, false)[0]
	if c1 == c2 {
		t.Fatal("two challenges share a nonce")
	}
}

func TestVerifyAgainstStoredHA1(t *testing.T) {
	a := newDigestAuth(time.Minute)
	for _, alg := range []string{"MD5", "SHA-256"} {
		ha1, _ := HA1(alg, "u1", "r", "pw")
		chal, _ := digest.ParseChallenge(a.challenges("r", "192.0.2.1", []string{alg}, false)[0])
		cred, _ := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:5@r", Username: "u1", Password: "pw"})
		if got := a.verify(cred.String(), "INVITE", "r", "192.0.2.1", mustURI(t, "sip:5@r"), credential{user: "u1", ha1: ha1}); got != authOK {
			t.Fatalf("%s: verify = %v, want authOK", alg, got)
		}
		// The same response for another method (replay as REGISTER) fails.
		if got := a.verify(cred.String(), "REGISTER", "r", "192.0.2.1", mustURI(t, "sip:5@r"), credential{user: "u1", ha1: ha1}); got != authFailed {
			t.Fatalf("%s: response replayed for another method: %v", alg, got)
		}
		// An MD5 HA1 cannot check a SHA-256 response and vice versa.
		other := "SHA-256"
		if alg == "SHA-256" {
			other = "MD5"
		}
		wrong, _ := HA1(other, "u1", "r", "pw")
		if got := a.verify(cred.String(), "INVITE", "r", "192.0.2.1", mustURI(t, "sip:5@r"), credential{user: "u1", ha1: wrong}); got != authFailed {
			t.Fatalf("%s response checked with a %s HA1: %v", alg, other, got)
		}
	}
	// A right response replayed from another address fails.
	chal, _ := digest.ParseChallenge(a.challenges("r", "192.0.2.1", []string{"MD5"}, false)[0])
	cred, _ := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:r", Username: "u1", Password: "pw"})
	if got := a.verify(cred.String(), "REGISTER", "r", "198.51.100.9", mustURI(t, "sip:r"), credential{user: "u1", password: "pw"}); got != authFailed {
		t.Fatalf("response replayed from another address: %v, want authFailed", got)
	}
	if got := a.verify("", "INVITE", "r", "192.0.2.1", mustURI(t, "sip:r"), credential{user: "u1", password: "x"}); got != authMissing {
		t.Fatalf("no header: %v", got)
	}
}

func FuzzVerifyAuthorization(f *testing.F) {
	a := newDigestAuth(time.Minute)
	f.Add(`Digest username="u1", realm="r", nonce="0000000000000001.00", uri="sip:r", response="00", algorithm=MD5, qop=auth, nc=00000001, cnonce="x"`)
	f.Add(`Digest username=`)
	f.Add(`Basic dTpw`)
	f.Fuzz(func(t *testing.T, h string) {
		// Anything a device sends must be answered, never crash, and never
		// authenticate without the right response.
		if a.verify(h, "REGISTER", "r", "192.0.2.1", sip.Uri{Scheme: "sip", Host: "r"}, credential{user: "u1", password: "pw"}) == authOK {
			t.Fatalf("header %q authenticated without the password's response", h)
		}
	})
}
