package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFieldBodies: the bodies of the test alarm and the factory reset are
// checked before anything runs. With no gateway wired, a body that passes
// the checks reaches the 503 "not available"; anything else is a 4xx with
// success:false. Nothing answers 200 or 500, and nothing panics.
func FuzzFieldBodies(f *testing.F) {
	f.Add("/alarmbridge/d/testalarm", `{"alarmEventMapperId":"arc","account":"1234"}`)
	f.Add("/alarmbridge/d/testalarm", `{"alarmEventMapperId":"arc","account":"12"}`)
	f.Add("/alarmbridge/d/testalarm", `{"account":"1234"}`)
	f.Add("/gateway/factoryreset", `{"confirm":"erase everything"}`)
	f.Add("/gateway/factoryreset", `{"confirm":"yes","x":1}`)
	f.Add("/gateway/alarms/retry", ``)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, path, body string) {
		switch path {
		case "/alarmbridge/d/testalarm", "/gateway/factoryreset", "/gateway/alarms/retry":
		default:
			return
		}
		e.t = t
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		e.s.ServeHTTP(rec, req)
		switch {
		case rec.Code == 503:
		case rec.Code >= 400 && rec.Code < 500:
			if !strings.Contains(rec.Body.String(), `"success":false`) {
				t.Fatalf("error without success:false: %s", rec.Body)
			}
		default:
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
	})
}
