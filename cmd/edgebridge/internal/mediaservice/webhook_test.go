package mediaservice

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A callback is retried on 5xx and on no answer until callbackTimeout, not
// on a 4xx; plain http:// goes to loopback only.
func TestHookRetriesWithinCallbackTimeout(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a/flaky":
			if n.Add(1) < 3 {
				w.WriteHeader(503)
				return
			}
			w.Write([]byte(`{"action":"ivr"}`))
		case "/a/down":
			w.WriteHeader(500)
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	h, err := newHook(srv.URL+"/a", nil, 2000, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.post(context.Background(), "flaky", map[string]any{})
	if err != nil || string(b) != `{"action":"ivr"}` || n.Load() != 3 {
		t.Fatalf("flaky: %q %v after %d attempts", b, err, n.Load())
	}
	start := time.Now()
	if _, err := h.post(context.Background(), "down", map[string]any{}); !errors.Is(err, errNoAnswer) {
		t.Fatalf("down: %v", err)
	}
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("gave up after %v, before callbackTimeout (2 s)", took)
	}
	if _, err := h.post(context.Background(), "missing", map[string]any{}); err == nil || errors.Is(err, errNoAnswer) {
		t.Errorf("404: %v, want refused at once", err)
	}
	for _, u := range []string{"http://192.0.2.1/cb", "ftp://127.0.0.1/x", "not a url"} {
		if _, err := newHook(u, nil, 0, nil); err == nil {
			t.Errorf("%s accepted as callbackBaseUrl", u)
		}
	}
}
