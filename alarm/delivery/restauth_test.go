package delivery

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm"
)

func pemOf(t *testing.T, typ string, der []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestCheckRestAuthRefusesKeysThatCannotSign(t *testing.T) {
	rk, rsaPriv := rsaPEM(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(rk)
	rsaPKCS8 := pemOf(t, "PRIVATE KEY", pkcs8, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	rsaPub := pemOf(t, "PUBLIC KEY", pubDER, err)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ek)
	ecPriv := pemOf(t, "PRIVATE KEY", ecDER, err)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM := pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small), nil)
	long := strings.Repeat("k", MinHS256Secret)
	for _, c := range []struct {
		name string
		auth []RestAuth
		want string // "" = accepted
	}{
		{"RS256 PKCS#1", []RestAuth{{Type: "RS256", Secret: rsaPriv}}, ""},
		{"RS256 PKCS#8", []RestAuth{{Type: "RS256", Secret: rsaPKCS8}}, ""},
		{"RS256 not PEM", []RestAuth{{Type: "RS256", Secret: "s"}}, "restAuthentication[0].secret: an RS256 secret must be an RSA private key in PEM form (-----BEGIN PRIVATE KEY-----)"},
		{"RS256 public key", []RestAuth{{Type: "RS256", Secret: rsaPub}}, "restAuthentication[0].secret: an RS256 secret must be the RSA private key that signs, not a public key"},
		{"RS256 EC key", []RestAuth{{Type: "RS256", Secret: ecPriv}}, "restAuthentication[0].secret: an RS256 secret must be an RSA private key in PEM form: PRIVATE KEY block is not one"},
		{"RS256 1024 bits", []RestAuth{{Type: "RS256", Secret: smallPEM}}, "restAuthentication[0].secret: an RS256 key must have at least 2048 bits, this one has 1024"},
		{"HS256 long enough", []RestAuth{{Type: "HS256", Secret: long}}, ""},
		{"HS256 short", []RestAuth{{Type: "HS256", Secret: long[1:]}}, "restAuthentication[0].secret: an HS256 secret must be at least 32 bytes"},
		{"type missing", []RestAuth{{Secret: long}}, "restAuthentication[0].type: required"},
		{"same key twice", []RestAuth{{Type: "RS256", Secret: rsaPriv}, {Type: "RS256", Secret: rsaPKCS8}}, "restAuthentication[1].secret: the same key as restAuthentication[0]"},
	} {
		err := CheckRestAuth(c.auth)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		var fe *alarm.FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a field error starting %q", c.name, err, c.want)
		}
	}
}

func TestCallbackTokenNamesItsKey(t *testing.T) {
	_, rsaPriv := rsaPEM(t)
	auth := []RestAuth{{Type: "HS256", Secret: strings.Repeat("h", 40)}, {Type: "RS256", Secret: rsaPriv}}
	s, err := newHTTPSender(Endpoint{Protocol: ProtoHTTP, URL: "http://127.0.0.1:1", Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for i := range auth {
		tok, err := s.token(i, "e1")
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := p.Header["kid"].(string)
		if kid == "" || kid != s.keys[i].kid || kids[kid] {
			t.Fatalf("entry %d: kid %q (seen %v)", i, kid, kids)
		}
		kids[kid] = true
	}
}
