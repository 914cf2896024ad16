package alarm

import "github.com/edgebridge/edgebridge/dsp"

// KeySender sends strings of DTMF keys from the calling side of a call (an
// alarm unit or panel simulator) in sample time: out of band through
// Channel.SendDigit when the Channel has out-of-band digits, each key as the
// frame it starts in goes out, with the audio silent; otherwise as tone in
// the frames written. Keys follow each other at the configured on and off
// times either way.
type KeySender struct {
	ch      Channel
	gen     *dsp.DTMFGenerator
	oob     bool
	onMs    int
	on, per int64 // samples

	// out of band: keys being sent, how many went, when the first starts
	keys  string
	sent  int
	start int64
}

// NewKeySender sends keys on ch at cfg's levels and timing.
func NewKeySender(ch Channel, cfg dsp.DTMFGenConfig) *KeySender {
	return &KeySender{
		ch:   ch,
		gen:  dsp.NewDTMFGenerator(cfg),
		oob:  ch.Digits() != nil,
		onMs: cfg.OnMs,
		on:   int64(cfg.OnMs) * dsp.SampleRate / 1000,
		per:  int64(cfg.OnMs+cfg.OffMs) * dsp.SampleRate / 1000,
	}
}

// Send starts keys at sample time now, the start of the next frame to
// write, and returns when the last key's tone ends; send the next string
// once then.
func (k *KeySender) Send(keys string, now int64) (end int64) {
	if k.oob {
		k.keys, k.sent, k.start = keys, 0, now
	} else {
		_ = k.gen.Queue(keys)
	}
	return now + int64(len(keys)-1)*k.per + k.on
}

// Fill fills out, the frame about to be written at sample time now: tone,
// or silence while the keys starting in it go out of band.
func (k *KeySender) Fill(out []int16, now int64) error {
	if !k.oob {
		k.gen.Generate(out)
		return nil
	}
	clear(out)
	for k.sent < len(k.keys) && k.start+int64(k.sent)*k.per < now+int64(len(out)) {
		if err := k.ch.SendDigit(k.keys[k.sent], k.onMs); err != nil {
			return err
		}
		k.sent++
	}
	return nil
}
