package sdp

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// SRTP crypto suites the gateway keys by SDES (RFC 4568 §6.2, RFC 7714 §14.2).
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
	SuiteAEADAES128GCM = "AEAD_AES_128_GCM"
)

// Suites lists the supported suites, strongest preference first.
var Suites = []string{SuiteAES128SHA1_80, SuiteAEADAES128GCM, SuiteAES128SHA1_32}

// KeyLen is the length of the master key plus master salt of a suite, the
// bytes carried base64-encoded in inline: (30 for AES-CM, 28 for GCM), or 0
// for a suite the gateway does not support.
func KeyLen(suite string) int {
	switch suite {
	case SuiteAES128SHA1_80, SuiteAES128SHA1_32:
		return 16 + 14
	case SuiteAEADAES128GCM:
		return 16 + 12 // RFC 7714 §12: 96-bit salt
	}
	return 0
}

// Crypto is one a=crypto line (RFC 4568 §9.1).
type Crypto struct {
	Tag   int
	Suite string
	// Key is master key || master salt, decoded from inline:.
	Key []byte
	// Lifetime and MKI are as written ("" when absent); a key with an MKI is
	// not supported and makes the line unusable, not the description invalid.
	Lifetime string
	MKI      string
	// Params are session parameters, kept as written (UNENCRYPTED_SRTP, ...).
	Params []string
}

// ParseCrypto reads the value of an a=crypto attribute.
func ParseCrypto(v string) (Crypto, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("%w: a=crypto needs \"tag suite inline:key\", got %q", ErrSyntax, clip(v))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("%w: a=crypto tag %q is not 0-999999999", ErrSyntax, clip(f[0]))
	}
	c := Crypto{Tag: tag, Suite: f[1], Params: f[3:]}
	// Several key-params may be separated by ';' (RFC 4568 §9.1); one is enough.
	kp, _, _ := strings.Cut(f[2], ";")
	method, info, ok := strings.Cut(kp, ":")
	if !ok || method != "inline" {
		return Crypto{}, fmt.Errorf("%w: a=crypto key method must be inline:, got %q", ErrSyntax, clip(kp))
	}
	parts := strings.Split(info, "|")
	key, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		// Some peers drop the padding.
		key, err = base64.RawStdEncoding.DecodeString(parts[0])
	}
	if err != nil {
		return Crypto{}, fmt.Errorf("%w: a=crypto inline key is not base64", ErrSyntax)
	}
	if n := KeyLen(c.Suite); n > 0 && len(key) != n {
		return Crypto{}, fmt.Errorf("%w: a=crypto %s key is %d bytes, want %d", ErrSyntax, c.Suite, len(key), n)
	}
	c.Key = key
	for _, p := range parts[1:] {
		// An MKI is "value:length"; a lifetime ("2^20") has no colon.
		if strings.Contains(p, ":") {
			c.MKI = p
		} else {
			c.Lifetime = p
		}
	}
	return c, nil
}

// String formats the value of the a=crypto attribute.
func (c Crypto) String() string {
	s := fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite, base64.StdEncoding.EncodeToString(c.Key))
	if c.Lifetime != "" {
		s += "|" + c.Lifetime
	}
	if c.MKI != "" {
		s += "|" + c.MKI
	}
	for _, p := range c.Params {
		s += " " + p
	}
	return s
}

// usable reports whether the gateway can key SRTP from this line, and why not.
func (c Crypto) usable() (bool, string) {
	if KeyLen(c.Suite) == 0 {
		return false, "suite " + c.Suite + " not supported"
	}
	if c.MKI != "" {
		return false, "MKI not supported"
	}
	if len(c.Params) > 0 {
		return false, "session parameters " + strings.Join(c.Params, " ") + " not supported"
	}
	return true, ""
}

// NewKey makes a fresh master key and salt for suite from crypto/rand.
func NewKey(suite string) ([]byte, error) {
	n := KeyLen(suite)
	if n == 0 {
		return nil, fmt.Errorf("sdp: crypto suite %q not supported", suite)
	}
	k := make([]byte, n)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}
