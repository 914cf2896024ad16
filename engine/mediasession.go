package engine

import "github.com/edgebridge/edgebridge/engine/media"

// NewMediaSession binds an RTP session that belongs to no SIP leg, from the
// engine's port pool on its media address: the far end is given by the
// caller's Apply (the media service's cloud SIP UA relays a call's media to
// the integrator's RTP endpoint this way). Pool and LocalIP of cfg are set
// here; the caller closes the session.
func (e *Engine) NewMediaSession(cfg media.SessionConfig) (*media.Session, error) {
	cfg.Pool, cfg.LocalIP = e.ports, e.mediaIP()
	if cfg.Logger == nil {
		cfg.Logger = e.log
	}
	return media.NewSession(cfg)
}

// RTPPairsInUse is how many RTP/RTCP port pairs media sessions hold now.
// Pairs released by ended sessions stay bound in the pool for the next
// calls (media.PortPool) and are not counted.
func (e *Engine) RTPPairsInUse() int { return e.ports.InUse() }
