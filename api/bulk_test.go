package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// waitBulk polls the job until it is no longer STARTED.
func (e *env) waitBulk(domain, id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.must(200, "GET", "/provisioning/device/"+domain+"/bulk/"+id, nil)
		st := r.body["status"].(map[string]any)
		if st["status"] != "STARTED" {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("bulk %s still running", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBulkImport(t *testing.T) {
	e := newEnv(t)
	csv := "deviceId,authType,authorized.domain,authorized.invite,authorized.register,password,serviceData.alarmBridge.heartbeatInterval,serviceData.foo.bar,description\n" +
		"1234,userid,customer47.example,.*,true,supersecret,600000,\"\"\"example text\"\"\",first\n" +
		"5678,deviceid,,,,,,\"{\"\"a\"\":[1,2]}\",\n" +
		"bad id,deviceid,,,,,,,\n" + // line 4: pattern
		"9999,userid,,,,,,,\n" + // line 5: userid without password
		"7777,deviceid,,,maybe,,,,\n" + // line 6: boolean
		"8888,deviceid,,,,,,not json,\n" + // line 7: serviceData JSON
		"4444,credentials,,,,,,,\n"
	r := e.must(200, "PUT", "/provisioning/device/d/bulk/b1", csv, "text/csv")
	if r.str("bulkId") != "b1" {
		t.Fatalf("answer: %s", r.raw)
	}
	st := e.waitBulk("d", "b1")
	if st["status"] != "COMPLETED" || st["bulkId"] != "b1" || st["domain"] != "d" {
		t.Fatalf("status: %v", st)
	}
	if st["startedAt"].(float64) <= 0 || st["stoppedAt"].(float64) < st["startedAt"].(float64) {
		t.Fatalf("times: %v", st)
	}
	reason := st["reason"].(string)
	for _, want := range []string{
		"imported 3 of 7 devices", "4 rows refused",
		`line 4: deviceId: must match ^[a-zA-Z0-9\-_:~+][a-zA-Z0-9\-\._:~+]{0,127}$`,
		"line 5: password: required when authType is userid",
		"line 6: authorized.register: must be true or false",
		`line 7: serviceData.foo.bar: must be a JSON value (text in "quotes")`,
	} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason lacks %q:\n%s", want, reason)
		}
	}
	d := e.must(200, "GET", "/provisioning/device/d/1234", nil)
	sd := d.body["serviceData"].(map[string]any)
	if d.body["authorized"].(map[string]any)["register"] != true ||
		sd["alarmBridge"].(map[string]any)["heartbeatInterval"] != 600000.0 ||
		sd["foo"].(map[string]any)["bar"] != "example text" || d.str("description") != "first" {
		t.Fatalf("typed columns: %s", d.raw)
	}
	d = e.must(200, "GET", "/provisioning/device/d/5678", nil)
	if fmt.Sprint(d.body["serviceData"].(map[string]any)["foo"].(map[string]any)["bar"]) != "map[a:[1 2]]" {
		t.Fatalf("JSON cell: %s", d.raw)
	}
	if h := e.must(200, "GET", "/provisioning/device/d/4444", nil).str("ha1"); len(h) != 32 {
		t.Fatalf("credentials row without ha1")
	}
	e.must(404, "GET", "/provisioning/device/d/9999", nil)
}

func TestBulkRefusals(t *testing.T) {
	e := newEnv(t)
	e.refused("PUT", "/provisioning/device/d/bulk/b", "deviceId,color\n1,red\n", `header: column "color" is not a device property`, "text/csv")
	e.refused("PUT", "/provisioning/device/d/bulk/b", "authType\ndeviceid\n", "header: deviceId column required", "text/csv")
	e.refused("PUT", "/provisioning/device/d/bulk/b", "deviceId,authType,authorized\n", `header: column "authorized" is an object; name its properties (authorized.x)`, "text/csv")
	e.refused("PUT", "/provisioning/device/d/bulk/b", "deviceId,authType,deviceId\n", `header: column "deviceId" appears twice`, "text/csv")
	// Over 10 MB: 413, and nothing starts.
	big := "deviceId,authType,description\n" + strings.Repeat("x,deviceid,"+strings.Repeat("y", 100)+"\n", (10<<20)/110+10)
	e.must(413, "PUT", "/provisioning/device/d/bulk/big", big, "text/csv")
	e.must(404, "GET", "/provisioning/device/d/bulk/big", nil)
	// All rows bad: FAILED. A short row is named by its line.
	e.must(200, "POST", "/provisioning/device/d/bulk/f", "deviceId,authType\nx,nope\ny\n", "text/csv")
	st := e.waitBulk("d", "f")
	if st["status"] != "FAILED" || !strings.Contains(st["reason"].(string), "line 2: authType: must be one of credentials, deviceid, userid") ||
		!strings.Contains(st["reason"].(string), "line 3: has 1 fields, the header has 2") {
		t.Fatalf("failed job: %v", st)
	}
	e.must(404, "GET", "/provisioning/device/d/bulk/none", nil)
}

func TestBulkInterruptedByRestart(t *testing.T) {
	e := newEnv(t)
	st := bulkStatus{BulkID: "b", Domain: "d", StartedAt: 1, Status: "STARTED"}
	b, _ := json.Marshal(st)
	if err := e.db.Put(store.Coll{Domain: "d", Resource: "bulk"}, "b", b); err != nil {
		t.Fatal(err)
	}
	// A new API on the same store (the daemon restarted).
	s2, err := New(Config{Store: e.db, AdminKeyHash: HashKey(testAdminKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := e.must(200, "GET", "/provisioning/device/d/bulk/b", nil).body["status"].(map[string]any)
	if got["status"] != "FAILED" || !strings.Contains(got["reason"].(string), "interrupted by a restart") || got["stoppedAt"].(float64) < 1 {
		t.Fatalf("stale job: %v", got)
	}
}

// FuzzBulkCSV: any file either is refused up front or ends in a finished
// job, and every stored device is one a PUT would have accepted.
func FuzzBulkCSV(f *testing.F) {
	f.Add("deviceId,authType\n1,deviceid\n")
	f.Add("deviceId,authType,serviceData.x\n1,deviceid,\"{\"\"a\"\":1}\"\n2,credentials,3\n")
	f.Add("deviceId,authType,authorized.register,lastConfigured\n1,userid,true,12\n")
	f.Add("deviceId,authType,serviceData.a,serviceData.a.b\n1,deviceid,1,2\n")
	f.Add("\ufeffdeviceId,authType\n\"a\nb\",deviceid\n")
	e := newEnv(f)
	schema := deviceSchema()
	n := 0
	f.Fuzz(func(t *testing.T, data string) {
		e.t = t
		n++
		dom := fmt.Sprintf("fz%d", n)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/provisioning/device/"+dom+"/bulk/b", strings.NewReader(data))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		e.s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			if rec.Code != 400 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			return
		}
		var st map[string]any
		for i := 0; i < 2000; i++ {
			b, err := e.db.Get(store.Coll{Domain: dom, Resource: "bulk"}, "b")
			if err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(b, &st)
			if st["status"] != "STARTED" {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if st["status"] != "COMPLETED" && st["status"] != "FAILED" {
			t.Fatalf("job did not finish: %v", st)
		}
		_ = e.db.View(func(tx *store.Tx) error {
			return tx.ForEach(store.Coll{Domain: dom, Resource: "device"}, "", func(id string, doc []byte) (bool, error) {
				m, err := decodeDoc(doc)
				if err != nil {
					t.Fatalf("stored device %s is not JSON", id)
				}
				if _, err := schema.validate("", m); err != nil {
					t.Fatalf("stored device %s breaks the schema: %v", id, err)
				}
				return true, nil
			})
		})
	})
}

// BenchmarkBulkImport100k: 100 000 devices in one CSV, from upload to
// COMPLETED, over real HTTP into a real bbolt file.
func BenchmarkBulkImport100k(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("deviceId,authType,deviceType,description,serviceData.alarmBridge.heartbeatInterval\n")
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&buf, "site:%06d,%s,alarmUnit,flat %d,600000\n", i, []string{"deviceid", "credentials"}[i%2], i)
	}
	csv := buf.Bytes()
	b.SetBytes(int64(len(csv)))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		e := newEnv(b)
		b.StartTimer()
		req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/provisioning/device/d/bulk/b%d", e.url, i), bytes.NewReader(csv))
		req.Header.Set("Content-Type", "text/csv")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("upload: %v %v", err, res)
		}
		res.Body.Close()
		st := e.waitBulk("d", fmt.Sprintf("b%d", i))
		if st["status"] != "COMPLETED" || !strings.HasPrefix(st["reason"].(string), "imported 100000 of 100000") {
			b.Fatalf("import: %v", st)
		}
	}
}

// Device write latency over loopback HTTP (PUT = create-or-modify, fsync'd).
func BenchmarkDevicePUT(b *testing.B) {
	e := newEnv(b)
	body := []byte(`{"deviceId":"bench","authType":"deviceid","description":"hall","serviceData":{"alarmBridge":{"heartbeatInterval":600000}}}`)
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("PUT", e.url+"/provisioning/device/d", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%v %v", err, res)
		}
		res.Body.Close()
	}
}

// Device read latency over loopback HTTP.
func BenchmarkDeviceGET(b *testing.B) {
	e := newEnv(b)
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "bench", "authType", "credentials"))
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", e.url+"/provisioning/device/d/bench", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("%v %v", err, res)
		}
		res.Body.Close()
	}
}

// Credentials rows without ha1 or password get a generated SIP password;
// the finished status gives those passwords once, to the key that started
// the import, and each opens its device's digest (ha1).
func TestBulkCredentialsPasswordsOnceToTheStarter(t *testing.T) {
	e := newEnv(t)
	k1 := e.must(200, "POST", "/provisioning/apiKey/d", obj2("key", "")).str("key")
	k2 := e.must(200, "POST", "/provisioning/apiKey/d", obj2("key", "")).str("key")
	csv := "deviceId,authType,ha1,password\n" +
		"c1,credentials,,\n" + // generated
		"c2,credentials," + HA1("c2", "d", "known") + ",\n" + // carries ha1
		"c3,credentials,,chosen-by-installer\n" + // given
		"c4,deviceid,,\n"
	if r := e.doKey(k1, "PUT", "/provisioning/device/d/bulk/pw", csv, "text/csv"); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.raw)
	}
	// Another key of the domain sees the status, never the passwords, and
	// does not use up the one reading.
	for {
		r := e.doKey(k2, "GET", "/provisioning/device/d/bulk/pw", nil)
		st := r.body["status"].(map[string]any)
		if _, leak := st["passwords"]; leak {
			t.Fatalf("another key got the passwords: %s", r.raw)
		}
		if _, leak := st["owner"]; leak {
			t.Fatalf("the status shows its owner: %s", r.raw)
		}
		if st["status"] != "STARTED" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := e.doKey(k1, "GET", "/provisioning/device/d/bulk/pw", nil)
	st := r.body["status"].(map[string]any)
	pws, _ := st["passwords"].([]any)
	if st["status"] != "COMPLETED" || len(pws) != 1 {
		t.Fatalf("starter's status: %s", r.raw)
	}
	p := pws[0].(map[string]any)
	pw, _ := p["password"].(string)
	if p["deviceId"] != "c1" || len(pw) < 16 {
		t.Fatalf("password entry %v", p)
	}
	if h := e.must(200, "GET", "/provisioning/device/d/c1", nil).str("ha1"); h != HA1("c1", "d", pw) {
		t.Fatalf("the returned password does not open c1's digest: ha1 %s", h)
	}
	if r := e.doKey(k1, "GET", "/provisioning/device/d/bulk/pw", nil); strings.Contains(string(r.raw), pw) {
		t.Fatalf("passwords returned twice: %s", r.raw)
	}
	if raw, _ := e.db.Get(store.Coll{Domain: "d", Resource: "bulk"}, "pw"); bytes.Contains(raw, []byte(pw)) {
		t.Fatalf("the status document still holds the password: %s", raw)
	}
}
