package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// CSP is the page's Content-Security-Policy: everything from its own
// origin, no inline script or style, no framing, no form posts elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the page at / and its files under /ui/, and passes every
// other request (the REST API) to api.
func Handler(api http.Handler) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := r.URL.Path == "/" || r.URL.Path == "/favicon.ico" || strings.HasPrefix(r.URL.Path, "/ui/")
		if !page || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			api.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // a firmware update changes the files under the same names
		r2 := r.Clone(r.Context())
		switch {
		case r.URL.Path == "/favicon.ico":
			r2.URL.Path = "/icon.svg"
		case r.URL.Path != "/":
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/ui")
			if r2.URL.Path == "/" || r2.URL.Path == "/index.html" {
				http.Redirect(w, r, "/", http.StatusMovedPermanently)
				return
			}
		}
		files.ServeHTTP(w, r2)
	})
}
