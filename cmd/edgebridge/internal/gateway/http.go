package gateway

import (
	"net/http"
	"strings"
)

// reloadOnWrite hands trunk and trusted-network changes made over REST to
// the engine at once, instead of at its next 10 s re-read: an installer who
// adds a trunk sees it register straight away.
func (g *Gateway) reloadOnWrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions ||
			!(strings.HasPrefix(r.URL.Path, "/provisioning/trunk/") || strings.HasPrefix(r.URL.Path, "/provisioning/trustednetwork/")) {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status < 300 {
			g.eng.ReloadTrunks()
		}
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
