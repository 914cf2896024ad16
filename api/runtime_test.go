package api

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// loadsAtRuntime reads every stored document through the runtime loaders
// (the engine's trunk loader, ...) and fails the test if one of them would
// skip a document the API accepted.
func (e *env) loadsAtRuntime() {
	e.t.Helper()
	if err := runtimeLoads(e.db); err != nil {
		e.t.Fatal(err)
	}
}

func runtimeLoads(db *store.DB) error {
	var domains []string
	db.View(func(tx *store.Tx) error { domains = tx.Domains(); return nil })
	dir := engine.StoreDirectory{DB: db}
	for _, d := range domains {
		trunks, err := dir.Trunks(d)
		if err != nil {
			return fmt.Errorf("engine cannot read the trunks of %s: %v", d, err)
		}
		for _, t := range trunks {
			// What the engine's loader (compileTrunk) runs.
			if err := t.Validate(); err != nil {
				return fmt.Errorf("the API accepted trunk %s/%s but the engine skips it: %v", d, t.TrunkID, err)
			}
		}
	}
	return nil
}

// FuzzAcceptedRuns: whatever document a write accepts, the runtime loaders
// load.
func FuzzAcceptedRuns(f *testing.F) {
	paths := []string{"/provisioning/trunk/d/fz"}
	f.Add(uint8(0), `{"destinationTarget":"h","destinationTransport":"udp","destinationMatch":"/\\/","destinationRewrite":"/a/b/"}`)
	f.Add(uint8(0), `{"destinationTarget":"h","destinationTransport":"TLS","destinationMatch":"^1","register":true,"userName":"u","ha1":"x"}`)
	f.Add(uint8(0), `{"destinationTarget":"h:5060","destinationTransport":"tcp","destinationMatch":"^1","sourceNetworks":"10.0.0.0/8","didNumbers":"1-2","localCodec":"PCMA"}`)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := paths[int(which)%len(paths)]
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		e.s.ServeHTTP(rec, req)
		if rec.Code == 200 {
			if err := runtimeLoads(e.db); err != nil {
				t.Fatalf("%s %s accepted: %v", path, body, err)
			}
		} else if rec.Code != 400 && rec.Code != 404 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// TestRuntimeRunsWhatRESTAccepted writes the cases the issue named (each
// was accepted and then skipped by the engine) and checks they are refused
// now, naming the field, while their corrected forms are accepted and load.
func TestRuntimeRunsWhatRESTAccepted(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		kv   []any
		want string
	}{
		{[]any{"destinationRewrite", "^0"}, `destinationRewrite: "^0" is not /pattern/replacement/ (e.g. /^0/+44/)`},
		{[]any{"destinationRewrite", "/^0/+44/"}, ""},
		{[]any{"register", true}, "userName: required when register is on"},
		{[]any{"register", true, "userName", "u", "realm", "r", "password", "p"}, ""},
		{[]any{"destinationTransport", "sctp"}, `destinationTransport: "sctp" is not udp, tcp or tls`},
		{[]any{"destinationTransport", "tls"}, ""},
		{[]any{"localCodec", "GSM"}, "localCodec: GSM cannot be honoured: the gateway has no GSM 06.10 codec (use PCMU or PCMA)"},
		{[]any{"trunksideCodec", "GSM"}, "trunksideCodec: GSM cannot be honoured: the gateway has no GSM 06.10 codec (use PCMU or PCMA)"},
		{[]any{"destinationMatch", `/\/`}, `destinationMatch: "/\\/" is not a valid regular expression: error parsing regexp: trailing backslash at end of expression: ` + "``"},
	} {
		body := with(trunkBase(), c.kv...)
		if c.want == "" {
			e.must(200, "PUT", "/provisioning/trunk/d/t1", body)
			e.loadsAtRuntime()
			continue
		}
		e.refused("PUT", "/provisioning/trunk/d/t1", body, c.want)
	}
}
