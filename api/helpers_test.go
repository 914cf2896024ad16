package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

const testAdminKey = "test-admin-key-0123456789"

// env is one API on a real loopback HTTP server over a real bbolt file.
type env struct {
	t   testing.TB
	s   *Server
	db  *store.DB
	url string
	key string
}

func newEnv(t testing.TB, mod ...func(*Config)) *env {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _, err := EnsureAdminKey(db, testAdminKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: db, AdminKeyHash: hash, SIPAdvertise: "192.0.2.1:5060", Version: "test"}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
		db.Close()
	})
	return &env{t: t, s: s, db: db, url: ts.URL, key: testAdminKey}
}

// resp is a decoded JSON answer.
type resp struct {
	status int
	body   map[string]any
	raw    []byte
	hdr    http.Header
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

// do sends a request; body may be a string (sent as is) or a value (JSON).
func (e *env) do(method, path string, body any, ctype ...string) resp {
	e.t.Helper()
	return e.doKey(e.key, method, path, body, ctype...)
}

func (e *env) doKey(key, method, path string, body any, ctype ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := "application/json"
	if len(ctype) > 0 {
		ct = ctype[0]
	}
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil && ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: raw, hdr: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return out
}

// forgive clears the wrong-key count of every address, for tests that check
// many refusals in a row (TestAPIKeyGuessingLimitedPerAddress tests the count).
func (e *env) forgive() {
	e.s.auth.mu.Lock()
	clear(e.s.auth.failures)
	e.s.auth.mu.Unlock()
}

// must asserts a status and returns the answer.
func (e *env) must(status int, method, path string, body any, ctype ...string) resp {
	e.t.Helper()
	r := e.do(method, path, body, ctype...)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.raw)
	}
	if status < 300 && r.body != nil && r.body["success"] != true {
		e.t.Fatalf("%s %s: success is not true: %s", method, path, r.raw)
	}
	if status >= 400 && r.body != nil && (r.body["success"] != false || r.str("reason") == "") {
		e.t.Fatalf("%s %s: error without success:false and reason: %s", method, path, r.raw)
	}
	return r
}

// refused asserts a 400 whose reason is exactly want.
func (e *env) refused(method, path string, body any, want string, ctype ...string) {
	e.t.Helper()
	r := e.must(400, method, path, body, ctype...)
	if r.str("reason") != want {
		e.t.Fatalf("%s %s: reason %q, want %q", method, path, r.str("reason"), want)
	}
}

// dump returns the stored bytes of every document, to prove nothing changed.
func (e *env) dump() string {
	var b strings.Builder
	_ = e.db.View(func(tx *store.Tx) error {
		for _, d := range tx.Domains() {
			for _, res := range []string{"device", "trunk", "alarmbridge", "alarmeventmapper", "mediaservice", "cloudsipua", "notificationsettings", "siprecservice", "apikey", "bulk"} {
				for _, prov := range []bool{false, true} {
					_ = tx.ForEach(store.Coll{Domain: d, Resource: res, Provisory: prov}, "", func(id string, doc []byte) (bool, error) {
						b.WriteString(d + "/" + res + "/" + id + "=" + string(doc) + "\n")
						return true, nil
					})
				}
			}
		}
		return nil
	})
	return b.String()
}

func obj2(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// clone returns a deep copy of a JSON-like map with fields set (nil value
// deletes); keys may be dotted paths.
func with(base map[string]any, kv ...any) map[string]any {
	b, _ := json.Marshal(base)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for i := 0; i+1 < len(kv); i += 2 {
		parts := strings.Split(kv[i].(string), ".")
		cur := m
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		last := parts[len(parts)-1]
		if kv[i+1] == nil {
			delete(cur, last)
		} else {
			cur[last] = kv[i+1]
		}
	}
	return m
}
