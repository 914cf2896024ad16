package engine

import (
	"testing"

	"github.com/edgebridge/edgebridge/engine/sdp"
)

// FuzzDirectSDP: withMedia builds the SDP a leg is re-INVITEd with from
// another far end's SDP (hostile input): for any pair the parser takes,
// what it builds parses again, keeps base's m= lines in place and puts the
// other far end's address, port and formats in the audio stream.
func FuzzDirectSDP(f *testing.F) {
	ours := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\nm=video 0 RTP/AVP 96\r\n"
	theirs := "v=0\r\no=unit 5 2 IN IP4 10.0.0.7\r\ns=-\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=rtcp:4001\r\na=sendrecv\r\n"
	f.Add([]byte(ours), []byte(theirs))
	f.Add([]byte(theirs), []byte("v=0\r\no=x 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\nm=audio 5 RTP/AVP 8\r\nc=IN IP6 ::1\r\na=rtcp-mux\r\na=inactive\r\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		base, err := sdp.Parse(a)
		if err != nil {
			return
		}
		from, err := sdp.Parse(b)
		if err != nil {
			return
		}
		fm := audio(from)
		if fm == nil {
			return
		}
		formats := keepFormats(fm, sdp.Negotiated{PT: 8, EventPT: 101, Events: true})
		out := withMedia(base, from, fm, formats)
		back, err := sdp.Parse(out.Marshal())
		if err != nil {
			t.Fatalf("built SDP does not parse: %v\n%s", err, out.Marshal())
		}
		if back.Origin.SessionID != base.Origin.SessionID || back.Origin.SessVersion != base.Origin.SessVersion+1 {
			t.Fatalf("o= %+v, want base's %+v with the version one up", back.Origin, base.Origin)
		}
		want := len(base.Media)
		if audio(base) == nil {
			want++
		}
		if len(back.Media) != want {
			t.Fatalf("%d m= lines, want %d", len(back.Media), want)
		}
		m := audio(back)
		if m == nil || m.Port != fm.Port || back.Addr(m) != from.Addr(fm) || len(m.Formats) != len(formats) {
			t.Fatalf("audio %+v, want port %d at %v with formats %v", m, fm.Port, from.Addr(fm), formats)
		}
	})
}
