package delivery

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm"
)

// MinHS256Secret is the shortest HS256 secret taken: RFC 7518 §3.2 asks for
// a key at least as long as the hash output (256 bits).
const MinHS256Secret = 32

// CheckRestAuth is the one check of a restAuthentication list: the REST API
// runs it when the list is written (alarmbridge, media service, cloud SIP
// UA, notification settings) and the HTTP sender before it signs, so a
// secret that cannot sign is refused on the write, not on the first alarm.
// Each entry's key must be usable for its type (RS256: a PEM RSA private
// key; HS256: at least MinHS256Secret bytes) and the entries' key ids (the
// JWT "kid" each token carries) must differ. The error is an
// *alarm.FieldError naming restAuthentication[i].
func CheckRestAuth(auth []RestAuth) error {
	_, err := signingKeys(auth)
	return err
}

// signingKey is one entry's key: []byte (HS256) or *rsa.PrivateKey (RS256),
// and its key id.
type signingKey struct {
	key any
	kid string
}

func signingKeys(auth []RestAuth) ([]signingKey, error) {
	out := make([]signingKey, 0, len(auth))
	seen := map[string]int{}
	for i, a := range auth {
		bad := func(field, format string, v ...any) error {
			return &alarm.FieldError{Field: fmt.Sprintf("restAuthentication[%d].%s", i, field), Rule: fmt.Sprintf(format, v...)}
		}
		var k signingKey
		switch a.Type {
		case "HS256":
			if len(a.Secret) < MinHS256Secret {
				return nil, bad("secret", "an HS256 secret must be at least %d bytes", MinHS256Secret)
			}
			k.key = []byte(a.Secret)
			sum := sha256.Sum256([]byte("edgebridge-hs256-kid:" + a.Secret))
			k.kid = base64.RawURLEncoding.EncodeToString(sum[:12])
		case "RS256":
			pk, err := rsaPrivateKey(a.Secret)
			if err != nil {
				return nil, bad("secret", "%s", err)
			}
			k.key = pk
			der, _ := x509.MarshalPKIXPublicKey(&pk.PublicKey)
			sum := sha256.Sum256(der)
			k.kid = base64.RawURLEncoding.EncodeToString(sum[:12])
		case "":
			return nil, bad("type", "required")
		default:
			return nil, bad("type", "%q: want RS256 or HS256", a.Type)
		}
		if j, dup := seen[k.kid]; dup {
			return nil, bad("secret", "the same key as restAuthentication[%d] (key id %s): each entry needs its own key", j, k.kid)
		}
		seen[k.kid] = i
		out = append(out, k)
	}
	return out, nil
}

// rsaPrivateKey reads an RS256 secret: a PEM RSA private key (PKCS #1 or
// PKCS #8), telling apart the usual mistakes (a public key or certificate,
// another key type, no PEM at all).
func rsaPrivateKey(secret string) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(secret))
	if blk == nil {
		return nil, fmt.Errorf("an RS256 secret must be an RSA private key in PEM form (-----BEGIN PRIVATE KEY-----)")
	}
	switch blk.Type {
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("an RS256 secret must be the RSA private key that signs, not a %s", pemName(blk.Type))
	}
	k, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("an RS256 secret must be an RSA private key in PEM form: %s block is not one", blk.Type)
	}
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("an RS256 key must have at least 2048 bits, this one has %d", k.N.BitLen())
	}
	return k, nil
}

func pemName(t string) string {
	if t == "CERTIFICATE" {
		return "certificate"
	}
	return "public key"
}
