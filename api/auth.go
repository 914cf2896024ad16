package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/store"
)

// Keys are never stored, only their SHA-256: the admin key under
// sysDomain/admin/key, domain API keys under domain/apikey/{keyId} with an
// index sysDomain/apikeyhash/{hex hash} -> {domain, keyId}. A presented key
// is hashed and looked up; the admin hash is compared in constant time.
// An RS256 public key is stored as PEM and verifies JWT bearer tokens.

// sysDomain holds the store documents that belong to no tenant. It cannot be
// named in a URL (domainPattern forbids '#').
const sysDomain = "#sys"

var (
	collAdmin    = store.Coll{Domain: sysDomain, Resource: "admin"}
	collKeyHash  = store.Coll{Domain: sysDomain, Resource: "apikeyhash"}
	collKeyIndex = store.Coll{Domain: sysDomain, Resource: "apikeyid"}
)

// HashKey is the stored form of an API key.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// NewKey returns a random API key (256 bits, URL-safe).
func NewKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "eb_" + base64.RawURLEncoding.EncodeToString(b)
}

// EnsureAdminKey returns the admin key hash to pass to New. With a key given
// (flag or environment) it is used and its hash stored. Without one the
// stored hash is used; on the very first start a key is created, only its
// hash is stored, and the key is returned in created so the caller prints it
// once.
func EnsureAdminKey(db *store.DB, given string) (hash []byte, created string, err error) {
	if given != "" {
		if len(given) < 16 {
			return nil, "", errors.New("admin key: must be at least 16 characters")
		}
		hash = HashKey(given)
		err = db.Put(collAdmin, "key", []byte(`"`+hex.EncodeToString(hash)+`"`))
		return hash, "", err
	}
	if b, err := db.Get(collAdmin, "key"); err == nil {
		var h string
		if json.Unmarshal(b, &h) == nil {
			if raw, err := hex.DecodeString(h); err == nil && len(raw) == 32 {
				return raw, "", nil
			}
		}
		return nil, "", errors.New("admin key: stored hash is damaged; start once with --admin-key")
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, "", err
	}
	created = NewKey()
	hash = HashKey(created)
	if err := db.Put(collAdmin, "key", []byte(`"`+hex.EncodeToString(hash)+`"`)); err != nil {
		return nil, "", err
	}
	return hash, created, nil
}

// principal is who a request is from: the admin (domain "") or a domain key.
type principal struct {
	domain string
	keyID  string
}

type keyIndex struct {
	Domain string `json:"domain"`
	KeyID  string `json:"keyId"`
}

// apiKeyDoc is the stored API key (domain/apikey/{keyId}).
type apiKeyDoc struct {
	KeyID     string `json:"sk"`
	Type      string `json:"type"` // "token" or "RS256"
	CreatedAt int64  `json:"createdAt"`
	Hash      string `json:"hash,omitempty"`      // token keys
	PublicKey string `json:"publicKey,omitempty"` // RS256 keys (PEM)
}

type authenticator struct {
	db        *store.DB
	adminHash []byte

	mu       sync.Mutex
	failures map[string]*failState
	now      func() time.Time // replaced in tests
}

// failState counts the failures of one address within failWindow; until is
// when it may next present a key.
type failState struct {
	n     int
	last  time.Time
	until time.Time
}

func newAuthenticator(db *store.DB, adminHash []byte) *authenticator {
	return &authenticator{db: db, adminHash: adminHash, failures: map[string]*failState{}, now: time.Now}
}

// Key guessing is limited per client address, not per request: after
// failFree failures the address must wait, twice as long after each further
// failure (up to failMaxDelay), and every request it sends meanwhile is
// answered 429 without its key being looked at, so parallel requests gain
// nothing. Failures are counted over failWindow from the last one and a
// success forgives none of them (a key holder cannot reset the count by
// mixing in good requests).
const (
	failFree     = 3
	failBase     = 100 * time.Millisecond
	failMaxDelay = 30 * time.Second
	failWindow   = 15 * time.Minute
	failTrack    = 4096 // addresses tracked at most
)

func (a *authenticator) failDelay(n int) time.Duration {
	if n <= failFree {
		return 0
	}
	d := failBase << min(n-failFree-1, 20)
	return min(d, failMaxDelay)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// wait is how long the address of r must still wait before presenting a key.
func (a *authenticator) wait(r *http.Request) time.Duration {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.failures[clientAddr(r)]; f != nil && now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

func (a *authenticator) fail(r *http.Request) {
	addr := clientAddr(r)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[addr]
	if f == nil || now.Sub(f.last) > failWindow {
		if len(a.failures) >= failTrack {
			for k, v := range a.failures {
				if now.Sub(v.last) > failWindow && now.After(v.until) {
					delete(a.failures, k)
				}
			}
			if len(a.failures) >= failTrack {
				return // very many addresses failing: each still waits once known
			}
		}
		f = &failState{}
		a.failures[addr] = f
	}
	f.n++
	f.last = now
	f.until = now.Add(a.failDelay(f.n))
}

// check authenticates r. It returns the principal, or the status and reason
// to refuse with.
func (a *authenticator) check(r *http.Request, allowQuery bool) (*principal, int, string) {
	if w := a.wait(r); w > 0 {
		return nil, http.StatusTooManyRequests, fmt.Sprintf("too many wrong API keys from this address: retry in %d s", int((w+time.Second-1)/time.Second))
	}
	key := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			a.fail(r)
			return nil, http.StatusUnauthorized, "Authorization must be: Bearer KEY"
		}
		key = strings.TrimSpace(tok)
	} else if allowQuery {
		key = r.URL.Query().Get("k")
	}
	if key == "" {
		a.fail(r)
		return nil, http.StatusUnauthorized, "missing API key (Authorization: Bearer KEY)"
	}
	h := HashKey(key)
	if subtle.ConstantTimeCompare(h, a.adminHash) == 1 {
		return &principal{}, 0, ""
	}
	if b, err := a.db.Get(collKeyHash, hex.EncodeToString(h)); err == nil {
		var ix keyIndex
		if json.Unmarshal(b, &ix) == nil && ix.Domain != "" {
			return &principal{domain: ix.Domain, keyID: ix.KeyID}, 0, ""
		}
	}
	if strings.Count(key, ".") == 2 {
		if p := a.checkJWT(key, r.PathValue("domain")); p != nil {
			return p, 0, ""
		}
	}
	a.fail(r)
	return nil, http.StatusUnauthorized, "unknown API key"
}

// checkJWT verifies an RS256 token against the stored public keys: the one
// named by its "kid" header, or else each RS256 key of the path's domain.
func (a *authenticator) checkJWT(tok, pathDomain string) *principal {
	var candidates []keyIndex
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if t, _, err := parser.ParseUnverified(tok, jwt.MapClaims{}); err == nil {
		if kid, _ := t.Header["kid"].(string); kid != "" {
			if b, err := a.db.Get(collKeyIndex, kid); err == nil {
				var ix keyIndex
				if json.Unmarshal(b, &ix) == nil {
					candidates = append(candidates, ix)
				}
			}
		}
	}
	if len(candidates) == 0 && pathDomain != "" && validDomain(pathDomain) {
		_ = a.db.View(func(tx *store.Tx) error {
			return tx.ForEach(store.Coll{Domain: pathDomain, Resource: "apikey"}, "", func(id string, doc []byte) (bool, error) {
				candidates = append(candidates, keyIndex{Domain: pathDomain, KeyID: id})
				return len(candidates) < 32, nil
			})
		})
	}
	for _, ix := range candidates {
		b, err := a.db.Get(store.Coll{Domain: ix.Domain, Resource: "apikey"}, ix.KeyID)
		if err != nil {
			continue
		}
		var k apiKeyDoc
		if json.Unmarshal(b, &k) != nil || k.Type != "RS256" {
			continue
		}
		pub, err := jwt.ParseRSAPublicKeyFromPEM([]byte(k.PublicKey))
		if err != nil {
			continue
		}
		if _, err := parser.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }); err == nil {
			return &principal{domain: ix.Domain, keyID: ix.KeyID}
		}
	}
	return nil
}

// The /provisioning/apiKey routes.

func (s *Server) createAPIKey(c *call) error {
	body, err := c.object()
	if err != nil {
		return err
	}
	given, _ := body["key"].(string)
	given = strings.TrimSpace(given)
	doc := apiKeyDoc{KeyID: newID(), CreatedAt: nowMillis()}
	resp := map[string]any{"sk": doc.KeyID}
	switch {
	case strings.Contains(given, "-----BEGIN"):
		if _, err := jwt.ParseRSAPublicKeyFromPEM([]byte(given)); err != nil {
			return ferr("key", "not a valid RSA public key in PEM form")
		}
		doc.Type, doc.PublicKey = "RS256", given
	case given == "":
		tok := NewKey()
		doc.Type, doc.Hash = "token", hex.EncodeToString(HashKey(tok))
		resp["key"] = tok // shown once
	default:
		// Tokens are unique across tenants, so refusing a taken one tells
		// that some tenant uses it: only the admin may choose a token.
		if c.principal != nil && c.principal.domain != "" {
			return errf(http.StatusForbidden, "key: choosing a token needs the admin key (leave key empty for a random one)")
		}
		if len(given) < 16 {
			return ferr("key", "a token must be at least 16 characters")
		}
		doc.Type, doc.Hash = "token", hex.EncodeToString(HashKey(given))
	}
	resp["type"] = doc.Type
	b, _ := json.Marshal(doc)
	ix, _ := json.Marshal(keyIndex{Domain: c.domain, KeyID: doc.KeyID})
	err = c.s.db.Update(func(tx *store.Tx) error {
		if doc.Hash != "" {
			if _, err := tx.Get(collKeyHash, doc.Hash); err == nil {
				return ferr("key", "this token is already in use")
			}
			if err := tx.Put(collKeyHash, doc.Hash, ix); err != nil {
				return err
			}
		}
		if err := tx.Put(collKeyIndex, doc.KeyID, ix); err != nil {
			return err
		}
		return tx.Put(c.coll("apikey", false), doc.KeyID, b)
	})
	if err != nil {
		return err
	}
	return c.ok(resp)
}

func (s *Server) listAPIKeys(c *call) error {
	q, err := c.listQuery()
	if err != nil {
		return err
	}
	page, err := c.s.db.List(c.coll("apikey", false), q)
	if err != nil {
		return err
	}
	items := []any{}
	for _, d := range page.Docs {
		var k apiKeyDoc
		if json.Unmarshal(d.JSON, &k) != nil {
			continue
		}
		// The hash is not a secret but it is nobody's business either.
		items = append(items, map[string]any{"sk": k.KeyID, "type": k.Type, "createdAt": k.CreatedAt})
	}
	out := map[string]any{"apiKeys": items}
	if page.NextToken != "" {
		out["nextToken"] = page.NextToken
	}
	return c.ok(out)
}

func (s *Server) deleteAPIKey(c *call) error {
	id := c.r.PathValue("keyId")
	err := c.s.db.Update(func(tx *store.Tx) error {
		b, err := tx.Get(c.coll("apikey", false), id)
		if err != nil {
			return notFound("API key", id)
		}
		var k apiKeyDoc
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		if k.Hash != "" {
			_ = tx.Delete(collKeyHash, k.Hash)
		}
		_ = tx.Delete(collKeyIndex, id)
		return tx.Delete(c.coll("apikey", false), id)
	})
	if err != nil {
		return err
	}
	return c.ok(nil)
}

// newID returns a random resource id (128 bits, hex).
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newPassword returns a random SIP password: 20 characters from an alphabet
// without look-alikes, about 115 bits.
func newPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
