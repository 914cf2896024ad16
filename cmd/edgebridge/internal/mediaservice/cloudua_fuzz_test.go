package mediaservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// A crypto list is the client's JSON: refused 400 naming the entry, or
// every key read is usable by the relay (its suite's length, no MKI) and
// survives being written back in the media service API's form.
func FuzzCryptoList(f *testing.F) {
	f.Add([]byte(`{"crypto":[{"suite":"AES_CM_128_HMAC_SHA1_80","id":1,"config":"inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add([]byte(`{"crypto":[{"suite":"AEAD_AES_128_GCM","id":999999999,"config":"inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|2^31"}]}`))
	f.Add([]byte(`{"crypto":[{"suite":"AES_CM_128_HMAC_SHA1_80","id":1,"config":"inline:AAAA|1:4"}, 7]}`))
	f.Add([]byte(`{"crypto":"inline:"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var body map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber() // as the API decodes bodies
		if d.Decode(&body) != nil {
			return
		}
		list, err := parseCryptoList(body["crypto"])
		if err != nil {
			var r *api.Refusal
			if !errors.As(err, &r) || r.Status != 400 {
				t.Fatalf("%s: %v", b, err)
			}
			return
		}
		for _, c := range list {
			if len(c.Key) != sdp.KeyLen(c.Suite) || c.MKI != "" || len(c.Params) != 0 {
				t.Fatalf("%s: unusable key accepted: %+v", b, c)
			}
			back, err := parseCryptoEntry(cryptoJSON(c))
			if err != nil || !bytes.Equal(back.Key, c.Key) || back.Tag != c.Tag || back.Suite != c.Suite {
				t.Fatalf("%s: written back as %v: %+v, %v", b, cryptoJSON(c), back, err)
			}
		}
	})
}

// newRemoteCall's answer is the application's: any bytes are an error or a
// sessionReferenceId that is JSON again.
func FuzzParseRemoteAnswer(f *testing.F) {
	f.Add([]byte(`{"sessionReferenceId":"ref"}`))
	f.Add([]byte(`{"sessionReferenceId":{"a":[1,2]}}`))
	f.Add([]byte(``))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ref, err := parseRemoteAnswer(b)
		if err == nil && len(ref) > 0 && !json.Valid(ref) {
			t.Fatalf("%q: sessionReferenceId %q is not JSON", b, ref)
		}
	})
}

// The cloud SIP UA's commands with a cloud SIP UA provisioned and a relay
// that binds real RTP ports: whatever the body, success or a 4xx, never an
// error the API would turn into a 5xx — but 503 when every RTP port is
// taken (the fuzzer places calls faster than they fail), which is the
// gateway's load, not the client's mistake.
func FuzzRemoteCommand(f *testing.F) {
	dir := f.TempDir()
	db, err := store.Open(filepath.Join(dir, "eb.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if err := db.Put(store.Coll{Domain: "d", Resource: "cloudsipua"}, "u", []byte(`{"name":"u","destinationMatch":"^x","callbackBaseUrl":"http://127.0.0.1:9/cb","callbackTimeout":100}`)); err != nil {
		f.Fatal(err)
	}
	lo, hi := testkit.PortRange(f, 40)
	pool, err := media.NewPortPool(lo, hi)
	if err != nil {
		f.Fatal(err)
	}
	svc, err := New(Config{DataDir: dir, DB: db, Log: testLog(),
		Dial: func(context.Context, engine.DialOptions) (*engine.Call, error) { return nil, errors.New("no SIP here") },
		MediaSession: func(c media.SessionConfig) (*media.Session, error) {
			c.Pool, c.LocalIP = pool, netip.MustParseAddr("127.0.0.1")
			return media.NewSession(c)
		}})
	if err != nil {
		f.Fatal(err)
	}
	good := svc.tokens.issue("d", "s1")
	cmds := []string{"placeremotecall", "answerremotecall", "sendremotecallringback", "hangupcall"}
	f.Add(uint8(0), []byte(`{"destinationUri":"sip:a@127.0.0.1:9","receiveIp":"127.0.0.1","receivePort":9,"codec":"PCMU"}`))
	f.Add(uint8(0), []byte(`{"destinationUri":"sip:a@b","receiveIp":"::1","receivePort":9,"crypto":[{"suite":"AES_CM_128_HMAC_SHA1_80","id":1,"config":"inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Add(uint8(1), []byte(`{"replyId":"`+good+`","receiveIp":"127.0.0.1","receivePort":9}`))
	f.Add(uint8(2), []byte(`{"replyId":"x.y"}`))
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		var body map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if d.Decode(&body) != nil || body == nil {
			return
		}
		cmd := cmds[int(which)%len(cmds)]
		_, err := svc.MediaCommand(context.Background(), "d", cmd, body)
		var r *api.Refusal
		if err != nil && (!errors.As(err, &r) || r.Status < 400 || r.Status >= 500 && !(r.Status == 503 && strings.Contains(r.Reason, media.ErrNoPorts.Error()))) {
			t.Fatalf("%s %s: %v", cmd, b, err)
		}
	})
}
