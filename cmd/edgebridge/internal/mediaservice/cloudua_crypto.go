package mediaservice

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/edgebridge/edgebridge/engine/sdp"
)

// SDES keys (RFC 4568) of the cloud SIP UA's relay leg, in the media
// service API's form {suite, id, config}: config is the a=crypto line's
// key-params ("inline:" base64 master key and salt, optionally
// "|lifetime"), id its tag. Each entry is read by the engine's a=crypto
// parser, so the REST API and SIP accept the same keys.

// maxCryptos bounds a crypto list (an offer lists a few suites).
const maxCryptos = 8

// parseCryptoList reads a command's crypto array; nil for none. A line the
// relay could not use (an unknown suite, an MKI, session parameters) is
// refused naming its index.
func parseCryptoList(v any) ([]sdp.Crypto, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, refuse(http.StatusBadRequest, "crypto: want an array of {suite, id, config}")
	}
	if len(arr) > maxCryptos {
		return nil, refuse(http.StatusBadRequest, fmt.Sprintf("crypto: at most %d entries", maxCryptos))
	}
	out := make([]sdp.Crypto, 0, len(arr))
	for i, e := range arr {
		c, err := parseCryptoEntry(e)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, fmt.Sprintf("crypto[%d].%s", i, err))
		}
		out = append(out, c)
	}
	return out, nil
}

func parseCryptoEntry(e any) (sdp.Crypto, error) {
	m, ok := e.(map[string]any)
	if !ok {
		return sdp.Crypto{}, fmt.Errorf("suite: want an object {suite, id, config}")
	}
	suite, _ := m["suite"].(string)
	if sdp.KeyLen(suite) == 0 {
		return sdp.Crypto{}, fmt.Errorf("suite: %q is not supported (want one of %s)", clipS(suite), strings.Join(sdp.Suites, ", "))
	}
	id, ok := intOf(m["id"])
	if !ok || id < 0 || id > 999999999 {
		return sdp.Crypto{}, fmt.Errorf("id: want a tag 0-999999999")
	}
	config, _ := m["config"].(string)
	if config == "" || strings.ContainsAny(config, " \t\r\n") {
		return sdp.Crypto{}, fmt.Errorf("config: want inline:KEY[|LIFETIME] (the a=crypto key-params, no spaces)")
	}
	c, err := sdp.ParseCrypto(fmt.Sprintf("%d %s %s", id, suite, config))
	if err != nil {
		return sdp.Crypto{}, fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), sdp.ErrSyntax.Error()+": "))
	}
	if c.MKI != "" {
		return sdp.Crypto{}, fmt.Errorf("config: a key with an MKI is not supported")
	}
	return c, nil
}

// newKey makes a fresh key of suite with tag id.
func newKey(suite string, id int) (sdp.Crypto, error) {
	k := make([]byte, sdp.KeyLen(suite))
	if len(k) == 0 {
		return sdp.Crypto{}, fmt.Errorf("crypto: suite %s is not supported", suite)
	}
	if _, err := rand.Read(k); err != nil {
		return sdp.Crypto{}, err
	}
	return sdp.Crypto{Tag: id, Suite: suite, Key: k}, nil
}

// cryptoJSON is c in the media service API's form.
func cryptoJSON(c sdp.Crypto) map[string]any {
	return map[string]any{"suite": c.Suite, "id": c.Tag, "config": "inline:" + base64.StdEncoding.EncodeToString(c.Key)}
}
