package api

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/store"
)

func TestAuthKeys(t *testing.T) {
	e := newEnv(t)
	// /healthz needs no key; everything else does.
	if r := e.doKey("", "GET", "/healthz", nil); r.status != 200 || r.body["success"] != true {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
	for _, p := range []string{"/openapi.json", "/provisioning/device/d", "/provisioning/currentuser/profile", "/metrics"} {
		if r := e.doKey("", "GET", p, nil); r.status != 401 || r.str("reason") != "missing API key (Authorization: Bearer KEY)" {
			t.Fatalf("%s without key: %d %s", p, r.status, r.raw)
		}
	}
	e.forgive()
	if r := e.doKey("not-a-key-at-all-xx", "GET", "/provisioning/device/d", nil); r.status != 401 || r.str("reason") != "unknown API key" {
		t.Fatalf("unknown key: %d %s", r.status, r.raw)
	}
	// A random domain key, shown once.
	r := e.must(200, "POST", "/provisioning/apiKey/d1", obj2("key", ""))
	k1, sk := r.str("key"), r.str("sk")
	if len(k1) < 40 || sk == "" || r.str("type") != "token" {
		t.Fatalf("apiKey: %s", r.raw)
	}
	// A chosen token.
	e.must(200, "POST", "/provisioning/apiKey/d2", obj2("key", "my-own-token-for-d2"))
	e.refused("POST", "/provisioning/apiKey/d3", obj2("key", "my-own-token-for-d2"), "key: this token is already in use")

	if r := e.doKey(k1, "GET", "/provisioning/device/d1", nil); r.status != 200 {
		t.Fatalf("own domain: %d %s", r.status, r.raw)
	}
	if r := e.doKey(k1, "PUT", "/provisioning/device/d2", obj2("deviceId", "x", "authType", "deviceid")); r.status != 403 || r.str("reason") != "this API key is valid for domain d1 only" {
		t.Fatalf("other domain: %d %s", r.status, r.raw)
	}
	if r := e.doKey("my-own-token-for-d2", "GET", "/provisioning/device/d2", nil); r.status != 200 {
		t.Fatalf("chosen token: %d", r.status)
	}
	// Domain-less routes accept any valid key.
	if r := e.doKey(k1, "GET", "/openapi.json", nil); r.status != 200 {
		t.Fatalf("openapi with domain key: %d", r.status)
	}
	// Listing shows ids, never keys or hashes.
	l := e.must(200, "GET", "/provisioning/apiKey/d1", nil)
	if strings.Contains(string(l.raw), k1) || strings.Contains(string(l.raw), "hash") || !strings.Contains(string(l.raw), sk) {
		t.Fatalf("key list: %s", l.raw)
	}
	// The store holds the hash only.
	if strings.Contains(e.dump(), k1) {
		t.Fatalf("store holds the key in clear")
	}
	// Deleting the key revokes it.
	e.must(200, "DELETE", "/provisioning/apiKey/d1/"+sk, nil)
	if r := e.doKey(k1, "GET", "/provisioning/device/d1", nil); r.status != 401 {
		t.Fatalf("deleted key still works: %d", r.status)
	}
	e.must(404, "DELETE", "/provisioning/apiKey/d1/"+sk, nil)
	// A malformed header.
	req, _ := http.NewRequest("GET", e.url+"/provisioning/device/d1", nil)
	req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	res, _ := http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("Basic auth: %d", res.StatusCode)
	}
}

func TestAuthJWT(t *testing.T) {
	e := newEnv(t)
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	r := e.must(200, "POST", "/provisioning/apiKey/jd", obj2("key", pemKey))
	if r.str("type") != "RS256" || r.str("key") != "" {
		t.Fatalf("RS256 key: %s", r.raw)
	}
	sign := func(kid string, exp time.Time, key *rsa.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "installer", "exp": exp.Unix()})
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign("", time.Now().Add(time.Hour), priv)
	if r := e.doKey(good, "GET", "/provisioning/device/jd", nil); r.status != 200 {
		t.Fatalf("valid JWT: %d %s", r.status, r.raw)
	}
	if r := e.doKey(sign(r.str("sk"), time.Now().Add(time.Hour), priv), "GET", "/provisioning/device/jd", nil); r.status != 200 {
		t.Fatalf("valid JWT with kid: %d %s", r.status, r.raw)
	}
	if r := e.doKey(good, "GET", "/provisioning/device/other", nil); r.status != 401 && r.status != 403 {
		t.Fatalf("JWT on another domain: %d", r.status)
	}
	if r := e.doKey(sign("", time.Now().Add(-time.Hour), priv), "GET", "/provisioning/device/jd", nil); r.status != 401 {
		t.Fatalf("expired JWT: %d", r.status)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if r := e.doKey(sign("", time.Now().Add(time.Hour), other), "GET", "/provisioning/device/jd", nil); r.status != 401 {
		t.Fatalf("JWT signed by another key: %d", r.status)
	}
	// alg none / HS256 tricks are refused.
	e.forgive()
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	ns, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if r := e.doKey(ns, "GET", "/provisioning/device/jd", nil); r.status != 401 {
		t.Fatalf("alg none: %d", r.status)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	hss, _ := hs.SignedString([]byte(pemKey))
	if r := e.doKey(hss, "GET", "/provisioning/device/jd", nil); r.status != 401 {
		t.Fatalf("HS256 with the public key as secret: %d", r.status)
	}
}

// TestAPIKeyGuessingLimitedPerAddress: after a few wrong keys an address
// waits longer and longer, every request it sends meanwhile is refused 429
// unread (parallel requests gain nothing), and good requests in between
// forgive nothing.
func TestAPIKeyGuessingLimitedPerAddress(t *testing.T) {
	e := newEnv(t)
	now := time.Unix(1700000000, 0)
	var mu sync.Mutex
	e.s.auth.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	wrong := func() int { return e.doKey("wrong-key-000000000000", "GET", "/provisioning/device/d", nil).status }
	for i := 0; i < failFree+1; i++ {
		if s := wrong(); s != 401 {
			t.Fatalf("wrong key %d: %d, want 401", i, s)
		}
	}
	// Waiting now: the admin key itself is refused unread, and 50 parallel
	// guesses are all refused without being checked.
	r := e.doKey(testAdminKey, "GET", "/provisioning/device/d", nil)
	if r.status != 429 || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("during the wait: %d (Retry-After %q), want 429 with Retry-After", r.status, r.hdr.Get("Retry-After"))
	}
	var wg sync.WaitGroup
	var checked atomic.Int32
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wrong() != 429 {
				checked.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := checked.Load(); n != 0 {
		t.Fatalf("%d of 50 parallel guesses checked during the wait, want 0", n)
	}
	// Good and bad keys alternated: successes do not reset the count, the
	// wait doubles with each failure.
	var waits []time.Duration
	for i := 0; i < 5; i++ {
		w := e.s.auth.failDelay(failFree + 1 + i)
		advance(w)
		e.must(200, "GET", "/provisioning/device/d", nil)
		if s := wrong(); s != 401 {
			t.Fatalf("after waiting %v: %d, want 401", w, s)
		}
		waits = append(waits, e.s.auth.failDelay(failFree+2+i))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] != 2*waits[i-1] {
			t.Fatalf("waits %v do not double", waits)
		}
	}
	if d := e.s.auth.failDelay(100); d != failMaxDelay {
		t.Fatalf("cap: %v", d)
	}
	// The count is forgotten only a window after the last failure.
	advance(failWindow + failMaxDelay + time.Second)
	if s := wrong(); s != 401 {
		t.Fatalf("after the window: %d, want 401", s)
	}
	e.must(200, "GET", "/provisioning/device/d", nil)
}

func TestEnsureAdminKey(t *testing.T) {
	e := newEnv(t)
	// The env opened with a given key; a restart without one keeps using its hash.
	h, created, err := EnsureAdminKey(e.db, "")
	if err != nil || created != "" || string(h) != string(HashKey(testAdminKey)) {
		t.Fatalf("restart: created %q err %v", created, err)
	}
	if _, _, err := EnsureAdminKey(e.db, "short"); err == nil {
		t.Fatal("short admin key accepted")
	}
	if strings.Contains(e.dump(), testAdminKey) {
		t.Fatal("admin key stored in clear")
	}
	// A fresh store: the first start creates a key, later starts reuse its hash.
	db, err := store.Open(filepath.Join(t.TempDir(), "fresh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h1, key, err := EnsureAdminKey(db, "")
	if err != nil || len(key) < 40 || string(h1) != string(HashKey(key)) {
		t.Fatalf("first start: key %q err %v", key, err)
	}
	h2, again, err := EnsureAdminKey(db, "")
	if err != nil || again != "" || string(h2) != string(h1) {
		t.Fatalf("second start: created %q err %v", again, err)
	}
}
