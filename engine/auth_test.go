package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

func TestNonceStaleAndForged(t *testing.T) {
	a := newDigestAuth(time.Minute)
	now := time.Unix(1700000000, 0)
	a.now = func() time.Time { return now }
	n := a.nonce("d")
	if err := a.checkNonce(n, "d"); err != nil {
		t.Fatalf("fresh nonce: %v", err)
	}
	if err := a.checkNonce(n, "other-realm"); err != errNonceInvalid {
		t.Fatalf("nonce used in another realm: %v, want invalid", err)
	}
	forged := n[:len(n)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", n[len(n)-1])+1)%16])
	if err := a.checkNonce(forged, "d"); err != errNonceInvalid {
		t.Fatalf("forged nonce: %v, want invalid", err)
	}
	now = now.Add(61 * time.Second)
	if err := a.checkNonce(n, "d"); err != errNonceStale {
		t.Fatalf("old nonce: %v, want stale", err)
	}
}

func TestVerifyAgainstStoredHA1(t *testing.T) {
	a := newDigestAuth(time.Minute)
	for _, alg := range []string{"MD5", "SHA-256"} {
		ha1, _ := HA1(alg, "u1", "r", "pw")
		chal, _ := digest.ParseChallenge(a.challenges("r", "192.0.2.1", []string{alg}, false)[0])
		cred, _ := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:5@r", Username: "u1", Password: "pw"})
		if got := a.verify(cred.String(), "INVITE", "r", "192.0.2.1", credential{user: "u1", ha1: ha1}); got != authOK {
			t.Fatalf("%s: verify = %v, want authOK", alg, got)
		}
		// The same response for another method (replay as REGISTER) fails.
		if got := a.verify(cred.String(), "REGISTER", "r", "192.0.2.1", credential{user: "u1", ha1: ha1}); got != authFailed {
			t.Fatalf("%s: response replayed for another method: %v", alg, got)
		}
		// An MD5 HA1 cannot check a SHA-256 response and vice versa.
		other := "SHA-256"
		if alg == "SHA-256" {
			other = "MD5"
		}
		wrong, _ := HA1(other, "u1", "r", "pw")
		if got := a.verify(cred.String(), "INVITE", "r", "192.0.2.1", credential{user: "u1", ha1: wrong}); got != authFailed {
			t.Fatalf("%s response checked with a %s HA1: %v", alg, other, got)
		}
	}
	// A right response replayed from another address fails.
	chal, _ := digest.ParseChallenge(a.challenges("r", "192.0.2.1", []string{"MD5"}, false)[0])
	cred, _ := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:r", Username: "u1", Password: "pw"})
	if got := a.verify(cred.String(), "REGISTER", "r", "198.51.100.9", credential{user: "u1", password: "pw"}); got != authFailed {
		t.Fatalf("response replayed from another address: %v, want authFailed", got)
	}
	if got := a.verify("", "INVITE", "r", "192.0.2.1", credential{user: "u1", password: "x"}); got != authMissing {
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
		if a.verify(h, "REGISTER", "r", "192.0.2.1", credential{user: "u1", password: "pw"}) == authOK {
			t.Fatalf("header %q authenticated without the password's response", h)
		}
	})
}
