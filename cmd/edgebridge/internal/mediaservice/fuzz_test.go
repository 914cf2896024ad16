package mediaservice

import (
	"strings"
	"testing"
)

// The webhook answers are the application's, so hostile: no answer may
// panic the parser, and what it accepts is what the runtime can carry out.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"hangup":true}`,
		`{"phrases":[{"fileName":"a.wav"},{"format":"awstts"}],"dtmf":{"flush":true,"maxDigits":"4","firstTimeout":30,"betweenTimeout":3,"terminationKey":"#","encryption":{"type":"md5","salt":"s"}},"bargeIn":"current"}`,
		`{"backgroundPrompt":{"fileName":"m.wav","repeatPause":1.5,"stop":false},"getIVRCommandAfter":"2"}`,
		`{"action":"call","destAddr":[{"destAddr":"sip:a@b","maxRingTime":5},{"destAddr":"+4612"}],"sipDiversion":123456}`,
		`{"action":"drop","dropCode":"busy"}`, `{"action":"ivr"}`, `{"dtmf":{"maxDigits":1e308}}`, `{"dtmf":{"terminationKey":"##"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCommand(b)
		if err != nil {
			if c != nil {
				t.Fatal("a command with an error")
			}
			return
		}
		if c.Action != "" && (c.callAction == nil || c.callAction.Action != actionCall && c.callAction.Action != actionDrop) {
			t.Fatalf("accepted action %q", c.Action)
		}
		if d := c.DTMF; d != nil {
			if len(d.TermKey) > 1 || d.MaxDigits.Set && (d.MaxDigits.V < 0 || d.MaxDigits.V > 128) {
				t.Fatalf("accepted dtmf %+v", d)
			}
		}
		_ = c.After.dur(0)
	})
}

// An answer asking for what the gateway does not do is refused naming the
// field, not carried out half.
func TestActionRefusesWhatItCannotDo(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"action":"call","destAddr":"sip:a@b","greeting":{"playMode":"calleeFirst"}}`, "greeting is not supported"},
		{`{"action":"call","destAddr":"sip:a@b","monitorDestAddr":"sip:m@d"}`, "monitorDestAddr is not supported"},
		{`{"action":"call","destAddr":"sip:a@b","sipTo":"callee"}`, "sipTo is not supported"},
		{`{"action":"call","destAddr":"sip:a@b","contactParameters":{"a":"b"}}`, "contactParameters is not supported"},
	} {
		if _, err := parseAction([]byte(tc.body), "newCall"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
	// Left out in all but name: accepted.
	if _, err := parseAction([]byte(`{"action":"call","destAddr":"sip:a@b","greeting":null,"sipTo":"","contactParameters":{}}`), "newCall"); err != nil {
		t.Errorf("empty fields: %v", err)
	}
}

func FuzzParseAction(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"action":"ivr","sessionReferenceId":{"a":1}}`, `{"action":"call","destAddr":"sip:x@y"}`,
		`{"action":"call","destAddr":[]}`, `{"action":"call","destAddr":"javascript:1"}`, `{"action":"drop","dropCode":"nope"}`,
		`{"action":"call","destAddr":"sip:x@y","xHeaders":{"X-A":["1","2"],"x-b":null},"pHeaders":{"P-C":3}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAction(b, "newCall")
		if err != nil {
			return
		}
		switch a.Action {
		case actionIVR, actionCall, actionDrop, actionHTTPCall, actionConnect:
		default:
			t.Fatalf("accepted action %q", a.Action)
		}
		if a.Action == actionCall && len(a.DestAddr) == 0 {
			t.Fatal("call without destAddr accepted")
		}
		for _, v := range []flexStr{a.SIPFrom, a.SIPPAI, a.SIPRPID, a.SIPDiversion, flexStr(a.DisplayName)} {
			if strings.ContainsAny(string(v), "\r\n<>") {
				t.Fatalf("identity %q accepted", v)
			}
		}
		for _, d := range a.DestAddr {
			if !strings.HasPrefix(d.DestAddr, "sip") && !isNumber(d.DestAddr) || strings.ContainsAny(d.DestAddr, " \r\n<>") {
				t.Fatalf("destination %q accepted", d.DestAddr)
			}
		}
		for _, m := range []map[string]any{a.XHeaders, a.PHeaders} {
			for k, v := range m {
				for _, h := range headerValues(k, v) {
					if strings.ContainsAny(h.Name(), ":\r\n ") || strings.ContainsAny(h.Value(), "\r\n") {
						t.Fatalf("header %q: %q", h.Name(), h.Value())
					}
				}
			}
		}
	})
}
