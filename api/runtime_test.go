package api

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/service"
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
		// The engine's device loader (registrar and call auth).
		var ids []string
		db.View(func(tx *store.Tx) error {
			return tx.ForEach(store.Coll{Domain: d, Resource: "device"}, "", func(id string, _ []byte) (bool, error) {
				ids = append(ids, id)
				return true, nil
			})
		})
		for _, id := range ids {
			if _, err := dir.Device(d, id); err != nil {
				return fmt.Errorf("the API accepted device %s/%s but the engine cannot serve it: %v", d, id, err)
			}
		}
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
		// The engine's PBX loader (Extension) validates the user or group a
		// number rings.
		var numbers []string
		db.View(func(tx *store.Tx) error {
			for _, res := range []string{engine.ResUser, engine.ResGroup} {
				tx.ForEach(store.Coll{Domain: d, Resource: res}, "", func(id string, doc []byte) (bool, error) {
					var x struct {
						ExtensionNumber string `json:"extensionNumber"`
					}
					json.Unmarshal(doc, &x)
					numbers = append(numbers, x.ExtensionNumber)
					return true, nil
				})
			}
			return nil
		})
		for _, n := range numbers {
			if _, err := dir.Extension(d, n); err != nil {
				return fmt.Errorf("the API accepted extension %s/%s but the engine cannot ring it: %v", d, n, err)
			}
		}
		// The alarm service's loader skips a bridge it cannot route.
		prov := service.StoreProvisioning{DB: db}
		bridges, err := prov.AlarmBridges(d)
		if err != nil {
			return err
		}
		var stored []string
		var auths []string
		db.View(func(tx *store.Tx) error {
			for _, res := range []string{"alarmbridge", "alarmeventmapper", "mediaservice", "cloudsipua", "notificationsettings"} {
				tx.ForEach(store.Coll{Domain: d, Resource: res}, "", func(id string, doc []byte) (bool, error) {
					if res == "alarmbridge" {
						stored = append(stored, id)
					}
					auths = append(auths, string(doc))
					return true, nil
				})
			}
			return nil
		})
		if len(bridges) != len(stored) {
			return fmt.Errorf("the API stored alarmbridges %v of %s but the alarm service loads %d", stored, d, len(bridges))
		}
		// Every restAuthentication signs, as the HTTP sender needs.
		for _, doc := range auths {
			var a struct {
				Auth []delivery.RestAuth `json:"restAuthentication"`
			}
			json.Unmarshal([]byte(doc), &a)
			if err := delivery.CheckRestAuth(a.Auth); err != nil {
				return fmt.Errorf("stored restAuthentication cannot sign: %v in %s", err, doc)
			}
		}
		// Every mapper with a protocol gets its delivery route.
		var mappers []alarm.EventMapper
		db.View(func(tx *store.Tx) error {
			return tx.ForEach(store.Coll{Domain: d, Resource: "alarmeventmapper"}, "", func(id string, doc []byte) (bool, error) {
				m, err := prov.EventMapper(d, id)
				if err != nil || m == nil {
					return false, fmt.Errorf("mapper %s/%s does not load: %v", d, id, err)
				}
				mappers = append(mappers, *m)
				return true, nil
			})
		})
		for _, m := range mappers {
			if m.TargetEndpoint.Protocol == "" {
				continue
			}
			if _, err := delivery.MapperRoute(d, &m); err != nil {
				return fmt.Errorf("the API accepted mapper %s/%s but delivery has no route for it: %v", d, m.ID, err)
			}
		}
	}
	return nil
}

// FuzzAcceptedRuns: whatever document a write accepts, the runtime loaders
// load.
func FuzzAcceptedRuns(f *testing.F) {
	paths := []string{"/provisioning/trunk/d/fz", "/provisioning/alarmbridge/d/fz", "/provisioning/alarmeventmapper/d/fz", "/provisioning/device/d", "/provisioning/notificationsettings/d"}
	f.Add(uint8(0), `{"destinationTarget":"h","destinationTransport":"udp","destinationMatch":"/\\/","destinationRewrite":"/a/b/"}`)
	f.Add(uint8(0), `{"destinationTarget":"h","destinationTransport":"TLS","destinationMatch":"^1","register":true,"userName":"u","ha1":"x"}`)
	f.Add(uint8(0), `{"destinationTarget":"h:5060","destinationTransport":"tcp","destinationMatch":"^1","sourceNetworks":"10.0.0.0/8","didNumbers":"1-2","localCodec":"PCMA"}`)
	f.Add(uint8(1), `{"protocol":"tt92","protocolMode":"dtmf","name":"n","destinationMatch":"//","restAuthentication":[{"type":"RS256","secret":"s"}]}`)
	f.Add(uint8(2), `{"alarmHandling":"drop","name":"n","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://h:1?key=00"}}`)
	f.Add(uint8(4), `{"restAuthentication":[{"type":"RS256","secret":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}],"useHttpEvents":true}`)
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

func rsaKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// TestAlarmDocumentsRunWhatRESTAccepted: alarmbridges, mappers and every
// restAuthentication are checked by the functions their loaders run.
func TestAlarmDocumentsRunWhatRESTAccepted(t *testing.T) {
	e := newEnv(t)
	key := rsaKeyPEM(t)
	bridge := obj2("protocol", "contactid", "protocolMode", "dtmf", "destinationMatch", "^5551$", "name", "AB")
	auth := func(a ...map[string]any) []any {
		out := []any{}
		for _, x := range a {
			out = append(out, x)
		}
		return out
	}
	for _, c := range []struct {
		path string
		body map[string]any
		want string
	}{
		{"/provisioning/alarmbridge/d/b1", with(bridge, "destinationMatch", "//"), "destinationMatch: must not be empty (between the slashes)"},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "destinationMatch", `/\/`), "destinationMatch: must be a valid regular expression: trailing backslash at end of expression: ``"},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "destinationMatch", "/^5551$/"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "restAuthentication", auth(map[string]any{"type": "RS256", "secret": "s"})),
			"restAuthentication[0].secret: an RS256 secret must be an RSA private key in PEM form (-----BEGIN PRIVATE KEY-----)"},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "restAuthentication", auth(map[string]any{"type": "RS256", "secret": key}, map[string]any{"type": "RS256", "secret": key})),
			"restAuthentication[1].secret: the same key as restAuthentication[0]"},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "callbackBaseUrl", "https://arc.example.com", "restAuthentication", auth(map[string]any{"type": "RS256", "secret": key, "sub": "gw"})), ""},
		{"/provisioning/notificationsettings/d", obj2("restAuthentication", auth(map[string]any{"type": "RS256"})), "restAuthentication[0].secret: an RS256 secret must be an RSA private key in PEM form (-----BEGIN PRIVATE KEY-----)"},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "dc09", "targetEndpoint.destAddr", "arc.example.com"),
			`targetEndpoint.destAddr: destAddr "arc.example.com": want host:port`},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "dc09", "targetEndpoint.destAddr", "dc09://127.0.0.1:5001?transport=sctp"),
			`targetEndpoint.destAddr: dc09 transport "sctp": want tcp or udp`},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "dc09", "targetEndpoint.destAddr", "127.0.0.1:5001", "targetEndpoint.backupEndpoint", map[string]any{"backupDestAddr": "udp://x"}),
			`targetEndpoint.backupEndpoint.backupDestAddr: destAddr "x": want host:port`},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.destAddr", nil), "targetEndpoint.destAddr: required for protocol scaip"},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "dc09", "targetEndpoint.destAddr", "dc09://127.0.0.1:5001?transport=udp&account=1234"), ""},
		// Protocols the gateway does not serve are refused with their reason,
		// not accepted and then answered and dropped.
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "nowip"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "nowipcontroller"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "voicecall"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "api"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "deviceProvisioned"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocolMode", "sdmf"), "protocolMode: sdmf (single tones) applies to tt92, ttnew and multiprotocol, not contactid"},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "multiprotocol", "fallbackAlarmProtocol", "scaip"), "fallbackAlarmProtocol: scaip units send SIP MESSAGE"},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "tt92", "protocolMode", "sdmf"), ""},
		{"/provisioning/alarmbridge/d/b1", with(bridge, "protocol", "multiprotocol", "fallbackAlarmProtocol", "ttnew"), ""},
		// http/https: the JSON callback the delivery code sends.
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "https", "targetEndpoint.destAddr", "https://arc.example.com/alarms"), ""},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "http", "targetEndpoint.destAddr", "http://127.0.0.1:9000"), ""},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "https", "targetEndpoint.destAddr", "http://arc.example.com"),
			`targetEndpoint.destAddr: url "http://arc.example.com": protocol https wants an https:// address`},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "http", "targetEndpoint.destAddr", "arc.example.com:80"),
			`targetEndpoint.destAddr: url "arc.example.com:80": must start with http:// or https://`},
		{"/provisioning/alarmeventmapper/d/m1", with(mapperBase(), "targetEndpoint.protocol", "ftp", "targetEndpoint.destAddr", "ftp://x"), "targetEndpoint.protocol"},
	} {
		if c.want == "" {
			e.must(200, "PUT", c.path, c.body)
			e.loadsAtRuntime()
			continue
		}
		r := e.must(400, "PUT", c.path, c.body)
		if !strings.HasPrefix(r.str("reason"), c.want) {
			t.Errorf("PUT %s: reason %q, want %q", c.path, r.str("reason"), c.want)
		}
	}
}

// Notification settings and the siprec service refuse over REST what the
// gateway cannot honour; what it honours is stored.
func TestSettingsRefuseWhatTheyCannotHonour(t *testing.T) {
	e := newEnv(t)
	e.refused("PUT", "/provisioning/notificationsettings/d", obj2("alarmTopic", "arn:aws:sns:eu-north-1:1:alarms"),
		"alarmTopic: not honoured: the gateway has no AWS SNS client (use alarmEventsRestEndpoint)")
	e.refused("PUT", "/provisioning/notificationsettings/d", obj2("useHttpEvents", false),
		"useHttpEvents: false is not honoured: the gateway has no SNS client, its notifications are HTTP")
	e.refused("PUT", "/provisioning/siprecservice/d", obj2("sipEventsRestEndpoint", "https://rec.example.com"),
		"sipEventsRestEndpoint: "+noSIPREC)
	e.must(200, "PUT", "/provisioning/notificationsettings/d", obj2("useHttpEvents", true, "sipEventsRestEndpoint", "https://ev.example.com/sip",
		"alarmEventsRestEndpoint", "https://ev.example.com/alarms", "httpTimeout", 5000,
		"restAuthentication", []any{map[string]any{"type": "RS256", "secret": rsaKeyPEM(t)}}))
	e.loadsAtRuntime()
}

// A userid device's authorized.invite is checked as the engine compiles it
// ("/regex/" or bare), so a pattern the engine cannot use is refused.
func TestDeviceRunsWhatRESTAccepted(t *testing.T) {
	e := newEnv(t)
	base := obj2("deviceId", "u1", "authType", "userid", "password", "pw", "authorized", map[string]any{"invite": "/^00/", "register": true})
	e.must(200, "PUT", "/provisioning/device/d", base)
	e.loadsAtRuntime()
	e.refused("PUT", "/provisioning/device/d", with(base, "authorized.invite", `/\/`),
		`authorized.invite: "/\\/" is not a valid regular expression: error parsing regexp: trailing backslash at end of expression: `+"``")
}
