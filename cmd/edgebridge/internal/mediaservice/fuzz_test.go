package mediaservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
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
		{`{"action":"call","destAddr":"sip:a@b","greeting":{"playMode":"loud"}}`, "greeting.playMode"},
		{`{"action":"call","destAddr":"sip:a@b","monitorDestAddr":"javascript:x"}`, "Invalid sip address"},
		{`{"action":"call","destAddr":"sip:a@b","monitorSipFrom":"sup"}`, "need monitorDestAddr"},
		{`{"action":"call","destAddr":"sip:a@b","monitorDestAddr":"sip:m@d","monitorSipFrom":"a@b"}`, "monitorSipFrom"},
		{`{"action":"call","destAddr":"sip:a@b","sipTo":"a@evil"}`, "sipTo"},
		{`{"action":"call","destAddr":"sip:a@b","contactParameters":{"a":"b;maddr=evil"}}`, "contactParameters"},
		{`{"action":"call","destAddr":"sip:a@b","contactUserParameters":{"a b":"c"}}`, "contactUserParameters"},
		{`{"action":"call","destAddr":"sip:a@b","contactParameters":{"a":{"b":1}}}`, "contactParameters"},
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
		`{"action":"call","destAddr":"sip:x@y","sipTo":"callee","contactParameters":{"a":"b","n":1},"contactUserParameters":{"isup-oli":"62"}}`,
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
		for _, m := range []map[string]any{a.ContactParams, a.ContactUserParam} {
			for _, p := range uriParams(m) {
				if !isToken(p.K) || !isToken(p.V) {
					t.Fatalf("contact parameter %q=%q accepted", p.K, p.V)
				}
			}
		}
		for _, v := range []flexStr{a.SIPFrom, a.SIPTo, a.SIPPAI, a.SIPRPID, a.SIPDiversion, a.MonitorSIPFrom, flexStr(a.DisplayName)} {
			if strings.ContainsAny(string(v), "\r\n<>") {
				t.Fatalf("identity %q accepted", v)
			}
		}
		for _, d := range append(a.DestAddr, destination{DestAddr: a.MonitorDestAddr}) {
			if d.DestAddr == a.MonitorDestAddr && d.DestAddr == "" {
				continue
			}
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

// The REST commands take the client's JSON: whatever it holds, the answer
// is success or a refusal with a 4xx (501 for what the gateway cannot do),
// never an error the API would turn into a 5xx.
func FuzzMediaCommand(f *testing.F) {
	dir := f.TempDir()
	db, err := store.Open(filepath.Join(dir, "eb.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	// A media service for placeivrcall to pick; its calls go nowhere.
	if err := db.Put(store.Coll{Domain: "d", Resource: "mediaservice"}, "m", []byte(`{"name":"m","destinationMatch":"^x","callbackBaseUrl":"http://127.0.0.1:9/cb","callbackTimeout":100,"restAuthentication":[]}`)); err != nil {
		f.Fatal(err)
	}
	svc, err := New(Config{DataDir: dir, DB: db, Log: testLog(),
		Dial: func(context.Context, engine.DialOptions) (*engine.Call, error) { return nil, errors.New("no SIP here") }})
	if err != nil {
		f.Fatal(err)
	}
	good := svc.tokens.issue("d", "s1")
	f.Add(uint8(2), []byte(`{"replyId":"`+good+`"}`))
	f.Add(uint8(7), []byte(`{"destAddr":"sip:a@b","sipFrom":"x"}`))
	f.Add(uint8(13), []byte(`{"replyId":"`+good+`","connectionId":"c","recordingFileName":"../../etc/passwd"}`))
	f.Add(uint8(0), []byte(`{"replyId":5,"codec":"PCMA"}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		var m map[string]any
		if json.Unmarshal(body, &m) != nil || m == nil {
			return // the API refuses what is not a JSON object before this
		}
		cmd := allCommands[int(which)%len(allCommands)]
		_, err := svc.MediaCommand(context.Background(), "d", cmd, m)
		var r *api.Refusal
		if err != nil && (!errors.As(err, &r) || r.Status < 400 || r.Status >= 500 && r.Status != 501) {
			t.Fatalf("%s %s: %v", cmd, body, err)
		}
	})
}

// An uploaded prompt is the client's bytes: stored, or refused as not
// audio / over quota; nothing else, and no half file left.
func FuzzPromptPut(f *testing.F) {
	p := newPrompts(f.TempDir(), 1<<20, []byte("k"))
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00"))
	f.Add([]byte("not audio"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := p.Put("d", "f.wav", bytes.NewReader(b))
		if err != nil && !errors.Is(err, ErrBadFormat) && !errors.Is(err, ErrQuota) {
			t.Fatalf("%q: %v", b, err)
		}
		if _, serr := os.Stat(filepath.Join(p.dirOf("d"), "f.wav.part")); serr == nil {
			t.Fatal("partial file left")
		}
	})
}

// FuzzParseCallIdentifier: any getCallIdentifier answer is taken (its
// sessionReferenceId valid JSON, or none) or refused; an answer naming
// another session is never taken.
func FuzzParseCallIdentifier(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"sessionId":"s1","sessionReferenceId":{"foo":1,"bar":2}}`,
		`{"sessionId":"other","sessionReferenceId":"x"}`, `{"sessionReferenceId":null}`, `{"sessionId":7}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, err := parseCallIdentifier(b, "s1")
		if err != nil {
			return
		}
		if ref != nil && !json.Valid(ref) {
			t.Fatalf("sessionReferenceId %q is not JSON", ref)
		}
		var v struct {
			SessionID any `json:"sessionId"`
		}
		if json.Unmarshal(b, &v) == nil && v.SessionID != nil && v.SessionID != "" && v.SessionID != "s1" {
			t.Fatalf("answer naming session %v taken", v.SessionID)
		}
	})
}
