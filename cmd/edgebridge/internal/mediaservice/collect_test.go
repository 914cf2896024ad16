package mediaservice

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/edgebridge/edgebridge/engine"
)

// collect's rules for one IVR command, keys fed as the media loop feeds
// them: what ends the collection, what the next getIvrCommand reports.
func TestCollectDigits(t *testing.T) {
	sum := md5.Sum([]byte("pepper" + "42"))
	for _, tc := range []struct {
		name       string
		cmd        string
		keys       string
		playing    bool // the phrases are still playing when the keys come
		interrupt  bool
		wantReason string
		wantMatch  string
		wantTerm   string
		wantBuf    string
	}{
		{"terminationKey ends, not part of the match", `{"dtmf":{"terminationKey":"#","firstTimeout":5}}`, "12#", false, false, "terminationKey", "12", "#", "12"},
		{"maxDigits", `{"dtmf":{"maxDigits":3,"firstTimeout":5}}`, "98765", false, false, "maxDigits", "987", "", "987"},
		{"firstTimeout without keys", `{"dtmf":{"firstTimeout":0.05}}`, "", false, false, "firstTimeout", "", "", ""},
		{"betweenTimeout after a key", `{"dtmf":{"firstTimeout":5,"betweenTimeout":0.05}}`, "4", false, false, "betweenTimeout", "4", "", "4"},
		{"keys during the phrases count", `{"dtmf":{"maxDigits":2,"firstTimeout":5},"bargeIn":"all"}`, "77", true, false, "maxDigits", "77", "", "77"},
		{"md5 encryption with salt", `{"dtmf":{"maxDigits":2,"firstTimeout":5,"encryption":{"type":"md5","salt":"pepper"}}}`, "42", false, false, "maxDigits", hex.EncodeToString(sum[:]), "", "42"},
		{"flush drops keys typed ahead", `{"dtmf":{"flush":true,"firstTimeout":0.05}}`, "55", false, false, "firstTimeout", "", "", ""},
		{"without flush they count", `{"dtmf":{"firstTimeout":5,"betweenTimeout":0.05}}`, "55", false, false, "betweenTimeout", "55", "", "55"},
		{"interrupted", `{"dtmf":{"firstTimeout":5}}`, "", false, true, "interrupted", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := parseCommand([]byte(tc.cmd))
			if err != nil {
				t.Fatal(err)
			}
			s := &session{interrupt: make(chan struct{}, 1), hangup: make(chan string, 1)}
			loop := &mediaLoop{keys: make(chan byte, 64), queue: []phrase{{FileName: "a"}, {FileName: "b"}}}
			done := make(chan struct{})
			if !tc.playing {
				close(done)
			}
			for i := 0; i < len(tc.keys); i++ {
				loop.keys <- tc.keys[i]
			}
			if tc.interrupt {
				s.interrupt <- struct{}{}
			}
			p := &participant{call: &engine.Call{}}
			params, buf, err := s.collect(context.Background(), p, loop, cmd, done, nil, make(chan struct{}))
			if err != nil {
				t.Fatal(err)
			}
			if params.Reason != tc.wantReason || params.DTMFMatch != tc.wantMatch || params.MatchedTermKey != tc.wantTerm || string(buf) != tc.wantBuf {
				t.Fatalf("got %+v buffer %q, want reason %s match %q term %q buffer %q", params, buf, tc.wantReason, tc.wantMatch, tc.wantTerm, tc.wantBuf)
			}
			if tc.playing && len(loop.queue) != 0 {
				t.Errorf("bargeIn all left %d phrases to play", len(loop.queue))
			}
		})
	}
}
