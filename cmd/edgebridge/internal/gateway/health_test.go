package gateway

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

// Healthy: the store answers and both listeners accept connections; a
// listener that is down is named, and so is a closed store.
func TestHealthy(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "eb.db"))
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer httpLn.Close()
	sipLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sipAddr := sipLn.Addr().String()
	if err := Healthy(db, httpLn.Addr().String(), sipAddr); err != nil {
		t.Fatalf("all up: %v", err)
	}
	sipLn.Close()
	if err := Healthy(db, httpLn.Addr().String(), sipAddr); err == nil || !strings.HasPrefix(err.Error(), "sip not listening") {
		t.Fatalf("SIP down: %v, want an error naming sip", err)
	}
	if err := Healthy(nil, httpLn.Addr().String(), sipAddr); err == nil || !strings.Contains(err.Error(), "store") {
		t.Fatalf("no store: %v", err)
	}
	db.Close()
	if err := Healthy(db, httpLn.Addr().String(), sipAddr); err == nil || !strings.HasPrefix(err.Error(), "store") {
		t.Fatalf("closed store: %v", err)
	}
	if got := dialable("0.0.0.0:8080"); got != "127.0.0.1:8080" {
		t.Fatalf("dialable(0.0.0.0:8080) = %q", got)
	}
}
