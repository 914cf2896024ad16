package media

import (
	"fmt"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/pion/srtp/v3"
)

// profile maps an SDES crypto suite (RFC 4568 §6.2, RFC 7714 §14.2) to pion.
func profile(suite string) (srtp.ProtectionProfile, error) {
	switch suite {
	case sdp.SuiteAES128SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case sdp.SuiteAES128SHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	case sdp.SuiteAEADAES128GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	}
	return 0, fmt.Errorf("media: SRTP suite %q not supported", suite)
}

// newContext keys one direction from master key || master salt, with replay
// protection (RFC 3711 §3.3.2) on the receive side mattering and harmless on
// the send side.
func newContext(p srtp.ProtectionProfile, keySalt []byte) (*srtp.Context, error) {
	kl, err := p.KeyLen()
	if err != nil {
		return nil, err
	}
	sl, err := p.SaltLen()
	if err != nil {
		return nil, err
	}
	if len(keySalt) != kl+sl {
		return nil, fmt.Errorf("key and salt are %d bytes, %s needs %d", len(keySalt), p, kl+sl)
	}
	return srtp.CreateContext(keySalt[:kl], keySalt[kl:], p,
		srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(128))
}
