package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/mediaservice"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
)

// bridgeVoice calls the voice destination (the ARC's speech line) and
// bridges the alarm unit to it until either side hangs up. When the ARC
// hangs up first and the bridge's arcDisconnectClearsCall is on (the
// provisioning schema's default), the unit hears its clear-down (sig) before
// its call ends; when neither the destination nor the mapper's backup
// answers, it hears it and the call ends.
//
// The bridge passes the call's audio to its alarm session (as) to record,
// and splitconnection on the session ends it: both parties are then
// dropped, the unit with its clear-down.
func (g *Gateway) bridgeVoice(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge, dest string, sig clearSignal, as *mediaservice.AlarmSession, log *slog.Logger) {
	out := g.dialVoice(ctx, c.Caller, c.Domain, dest, g.backupVoice(c.Domain, b), legDTMF(b, true), log)
	if out == nil {
		// Neither the voice destination nor its backup answered: the unit,
		// waiting for speech that will not come, is cleared down and the
		// call ends, as when the ARC hangs up.
		if ctx.Err() == nil {
			log.Info("gateway: no voice destination answered: unit cleared down")
			g.clearDown(ctx, c, sig, log)
			_ = c.Hangup()
		}
		return
	}
	defer out.Hangup()
	if alarmSessionBridge(ctx, as, out, voiceBridge(b, c, out, as, log), log) {
		_ = out.Hangup()
		g.clearDown(ctx, c, sig, log)
		_ = c.Hangup()
		return
	}
	if ctx.Err() != nil || b.ArcDisconnectClearsCall != nil && !*b.ArcDisconnectClearsCall {
		return
	}
	select {
	case <-legDone(c): // the unit hung up
	case <-legDone(out):
		g.clearDown(ctx, c, sig, log) // re-anchors the unit's media first when it went direct
	default:
	}
}

// voiceBridge is the bridge of the unit's leg c to the voice leg out, for
// alarmSessionBridge. With the alarmbridge's controlCommandsEnabled false
// ("the media path straight between alarm device and alarm receiver") the
// gateway first takes itself out of the media path (engine.DirectMedia:
// each leg re-INVITEd with the other far end's SDP, the gateway's RTP
// sessions closed) and then only waits for a side to hang up or the
// session to end: the call's signalling still passes the gateway. When
// that cannot be done (SRTP, codec or key conversion, NAT, a recording
// running, a far end refusing the re-INVITE) the call is bridged through
// the gateway as before, with one log line saying why: it is never
// dropped for it.
func voiceBridge(b *alarm.AlarmBridge, c, out *engine.Call, as *mediaservice.AlarmSession, log *slog.Logger) func(context.Context) error {
	return func(bctx context.Context) error {
		if b.ControlCommandsEnabled != nil && !*b.ControlCommandsEnabled {
			if directVoice(c, out, as, log) {
				select {
				case <-bctx.Done():
				case <-c.Done():
				case <-out.Done():
				}
				return nil
			}
		}
		unit := c.Session()
		return media.Bridge(bctx, unit, out.Session(), unitTap(as, unit))
	}
}

// directVoice moves the media of c and out off the gateway; false when it
// stays (logged).
func directVoice(c, out *engine.Call, as *mediaservice.AlarmSession, log *slog.Logger) bool {
	if !as.MediaElsewhere("alarmbridge controlCommandsEnabled false: the media goes straight between the unit and the voice destination") {
		log.Warn("gateway: controlCommandsEnabled false, but the media stays through the gateway: the call is being recorded")
		return false
	}
	if err := engine.DirectMedia(c, out); err != nil {
		as.MediaBack()
		log.Warn("gateway: controlCommandsEnabled false, but the media stays through the gateway", "err", err)
		return false
	}
	log.Info("gateway: media straight between the unit and the voice destination (controlCommandsEnabled false)", "to", out.Called)
	return true
}

// legDone is closed when the leg's media has ended: its session's end, or
// the call's when its media goes straight to the other side.
func legDone(c *engine.Call) <-chan struct{} {
	if s := c.Session(); s != nil {
		return s.Done()
	}
	return c.Done()
}

// alarmSessionBridge runs bridge (the unit's leg to the voice leg out) as
// the voice connection of the alarm session as, the one seam every alarm
// path's voice bridge goes through: splitconnection on the session ends
// it. It reports whether it was split (the callEvents sent); the caller
// then drops both parties, the unit as its path does.
func alarmSessionBridge(ctx context.Context, as *mediaservice.AlarmSession, out *engine.Call, bridge func(context.Context) error, log *slog.Logger) (split bool) {
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	down := as.Connected(out.Called, out.ID, stop)
	if err := bridge(bctx); err != nil {
		log.Info("gateway: voice bridge ended", "err", err)
	}
	if down(ctx) && ctx.Err() == nil {
		log.Info("gateway: voice connection split by splitconnection: both parties dropped")
		return true
	}
	return false
}

// unitTap passes the audio of a media.Bridge of the unit's RTP leg to its
// alarm session, to be recorded both ways.
func unitTap(as *mediaservice.AlarmSession, unit *media.Session) media.BridgeOption {
	return media.TapFrames(func(from *media.Session, pcm []int16) {
		if from == unit {
			as.FromUnit(pcm)
		} else {
			as.ToUnit(pcm)
		}
	})
}

// writeSilence writes a silent 20 ms frame to s per 20 ms of the clock
// until ctx ends. After a stall it writes the frames it missed at once (up
// to half a second of them; older ones are late for any jitter buffer): a
// time.Ticker drops the ticks a starved goroutine could not take, and the
// keys sendKeys queues ride on these frames, so under load the clear-down
// key was held back past sendKeys' deadline and the unit never heard it.
func writeSilence(ctx context.Context, s *media.Session) {
	frame := make([]int16, 160)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int64(now.Sub(start) / (20 * time.Millisecond))
			for sent = max(sent, due-25); sent < due; sent++ {
				if s.WriteFrame(frame) != nil {
					return
				}
			}
		}
	}
}

// legDTMF is how keys are sent toward one leg of an alarm session (the
// alarmbridge's toneSettings): the caller is the unit, the callee the ARC's
// voice destination. "2833" offers telephone-event (RFC 4733) on that leg,
// "inaudio" does not, so keys relayed or sent to it are played in band. A
// leg without its own setting takes dtmfSendType; "" is the engine's
// default, 2833.
func legDTMF(b *alarm.AlarmBridge, callee bool) string {
	t := b.ToneSettings
	switch {
	case t == nil:
		return ""
	case callee && t.CalleeDtmfSendType != "":
		return t.CalleeDtmfSendType
	case !callee && t.CallerDtmfSendType != "":
		return t.CallerDtmfSendType
	}
	return t.DtmfSendType
}

// dialVoice places the voice call that follows an alarm, with keys sent
// toward it as dtmf says (legDTMF); nil when it cannot be made (logged).
// dialVoice calls the voice destination and, when it cannot be reached,
// the backup (the mapper's backupDefaultVoiceDestination; "" for none);
// nil when neither answers.
func (g *Gateway) dialVoice(ctx context.Context, caller, domain, dest, backup, dtmf string, log *slog.Logger) *engine.Call {
	out := g.dialOne(ctx, caller, domain, dest, dtmf, log)
	if out == nil && backup != "" && backup != dest {
		out = g.dialOne(ctx, caller, domain, backup, dtmf, log)
	}
	return out
}

func (g *Gateway) dialOne(ctx context.Context, caller, domain, dest, dtmf string, log *slog.Logger) *engine.Call {
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second) // SCAIP: voice within 60 s
	defer cancel()
	out, err := g.eng.Dial(dctx, engine.DialOptions{To: dest, From: caller, Domain: domain, Media: engine.MediaOptions{DTMF: dtmf}})
	if err != nil {
		log.Warn("gateway: voice call", "to", dest, "err", err)
		return nil
	}
	log.Info("gateway: voice bridged", "to", dest)
	return out
}

// backupVoice is the bridge's mapper's backupDefaultVoiceDestination: where
// the voice call goes when the voice destination cannot be reached.
func (g *Gateway) backupVoice(domain string, b *alarm.AlarmBridge) string {
	if b.AlarmEventMapperID == "" {
		return ""
	}
	m, err := g.prov.EventMapper(domain, b.AlarmEventMapperID)
	if err != nil || m == nil || m.TargetEndpoint.BackupEndpoint == nil {
		return ""
	}
	return m.TargetEndpoint.BackupEndpoint.BackupDefaultVoiceDestination
}
