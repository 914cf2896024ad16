package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// apiStub stands for the REST API: it answers 418 so a test can tell which
// side served a request.
var apiStub = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })

func get(h http.Handler, method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// The page and its files come with the strict policy; everything else is
// the API's.
func TestHandlerServesThePageAndPassesTheRest(t *testing.T) {
	h := Handler(apiStub)
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html"},
		{"HEAD", "/", 200, "text/html"},
		{"GET", "/ui/app.js", 200, "text/javascript"},
		{"GET", "/ui/app.css", 200, "text/css"},
		{"GET", "/ui/icon.svg", 200, "image/svg+xml"},
		{"GET", "/favicon.ico", 200, "image/svg+xml"},
		{"GET", "/ui/nope.js", 404, ""},
		{"GET", "/ui/", 301, ""},
		{"POST", "/", 418, ""},
		{"GET", "/provisioning/device/local", 418, ""},
		{"GET", "/openapi.json", 418, ""},
		{"GET", "/index.html", 418, ""},
	} {
		w := get(h, c.method, c.path)
		if w.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.status)
			continue
		}
		if c.status == 418 {
			if w.Header().Get("Content-Security-Policy") != "" {
				t.Errorf("%s %s: the API's answer got the page's headers", c.method, c.path)
			}
			continue
		}
		if got := w.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s %s: CSP %q", c.method, c.path, got)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: headers %v", c.method, c.path, w.Header())
		}
		if c.ctype != "" && !strings.HasPrefix(w.Header().Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s: Content-Type %q, want %s", c.method, c.path, w.Header().Get("Content-Type"), c.ctype)
		}
	}
}

// The policy allows no inline script or style, so the files must have none:
// no <script> without src, no on... handler attributes, no style
// attributes, nothing from another origin.
func TestAssetsNeedNothingInlineOrRemote(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|\son[a-z]+\s*=|\sstyle\s*=|<style|https?://|//cdn|@import|url\(`)
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(assets, path)
		if strings.HasSuffix(path, ".html") {
			if m := inline.FindString(string(b)); m != "" {
				t.Errorf("%s: %q is blocked by the page's CSP or reaches outside", path, m)
			}
		}
		if strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".css") {
			for _, bad := range []string{"http://", "https://", "eval(", "new Function", "innerHTML", ".style.", "@import", "url("} {
				if strings.Contains(string(b), bad) {
					t.Errorf("%s uses %q", path, bad)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The page stores the key in sessionStorage only and never in a cookie or
// localStorage.
func TestKeyOnlyInSessionStorage(t *testing.T) {
	b, err := fs.ReadFile(assets, "assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	for _, bad := range []string{"document.cookie", "localStorage", "credentials: 'include'"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	if !strings.Contains(js, "sessionStorage.setItem('eb.key'") || !strings.Contains(js, "Authorization: 'Bearer ' + S.key") {
		t.Error("app.js does not keep the key in sessionStorage and send it as a Bearer")
	}
}

// FuzzHandlerPaths: any method and path is served by exactly one side, the
// page (with its policy) or the API, and never panics.
func FuzzHandlerPaths(f *testing.F) {
	for _, s := range []string{"/", "/ui/app.js", "/ui/../api", "/ui/%2e%2e/x", "/favicon.ico", "/provisioning/x", "/ui//app.css"} {
		f.Add("GET", s)
	}
	f.Add("POST", "/ui/app.js")
	h := Handler(apiStub)
	f.Fuzz(func(t *testing.T, method, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#?") || method == "" || strings.ContainsAny(method, " \r\n\t/") {
			return
		}
		req, err := http.NewRequest(method, "http://gw"+path, nil)
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		io.Copy(io.Discard, w.Body)
		page := w.Header().Get("Content-Security-Policy") == CSP
		if page == (w.Code == http.StatusTeapot) {
			t.Fatalf("%s %s: status %d, page headers %v", method, path, w.Code, page)
		}
		if page && method != "GET" && method != "HEAD" {
			t.Fatalf("%s %s served by the page", method, path)
		}
	})
}
