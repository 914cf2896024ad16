package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// One case of the validation table: a base document with one change, and
// the exact reason the API must give (empty: accepted).
type vcase struct {
	name string
	kv   []any // with() pairs applied to the base
	want string
}

func runTable(t *testing.T, e *env, method, path string, base map[string]any, cases []vcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			before := e.dump()
			body := with(base, c.kv...)
			if c.want == "" {
				e.must(200, method, path, body)
				e.loadsAtRuntime()
				return
			}
			e.refused(method, path, body, c.want)
			if after := e.dump(); after != before {
				t.Fatalf("a refused request changed the store:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestValidateDevice(t *testing.T) {
	e := newEnv(t)
	base := obj2("deviceId", "dev-1", "authType", "deviceid")
	runTable(t, e, "PUT", "/provisioning/device/d", base, []vcase{
		{"ok", nil, ""},
		{"deviceId required", []any{"deviceId", nil}, "deviceId: required"},
		{"authType required", []any{"authType", nil}, "authType: required"},
		{"authType enum", []any{"authType", "digest"}, "authType: must be one of credentials, deviceid, userid"},
		{"deviceId pattern", []any{"deviceId", "bad id"}, `deviceId: must match ^[a-zA-Z0-9\-_:~+][a-zA-Z0-9\-\._:~+]{0,127}$`},
		{"deviceId pattern slash", []any{"deviceId", "a/b"}, `deviceId: must match ^[a-zA-Z0-9\-_:~+][a-zA-Z0-9\-\._:~+]{0,127}$`},
		{"deviceId all allowed chars", []any{"deviceId", "aZ09-._:~+"}, ""},
		{"deviceId type", []any{"deviceId", 12}, "deviceId: must be a string"},
		{"deviceType enum", []any{"deviceType", "phone"}, "deviceType: must be one of sipDevice, alarmbridgeConnect, groupScheme, alarmUnit"},
		{"deviceType ok", []any{"deviceType", "alarmbridgeConnect"}, ""},
		{"description max 200", []any{"description", string(make([]byte, 201))}, "description: must be at most 200 characters"},
		{"description 200 ok", []any{"description", string(make([]rune, 200))}, ""},
		{"lastConfigured number", []any{"lastConfigured", "yesterday"}, "lastConfigured: must be a number"},
		{"authorized object", []any{"authorized", "x"}, "authorized: must be an object"},
		{"authorized.register bool", []any{"authorized.register", "yes"}, "authorized.register: must be a boolean (true or false)"},
		{"authorized.invite regex", []any{"authorized.invite", "(["}, "authorized.invite: must be a valid regular expression: missing closing ]: `[`"},
		{"serviceData.alarmBridge.usePredefinedDestination bool", []any{"serviceData.alarmBridge.usePredefinedDestination", 1}, "serviceData.alarmBridge.usePredefinedDestination: must be a boolean (true or false)"},
		{"serviceData.alarmBridge.overrideInAlarmEvent.priority number", []any{"serviceData.alarmBridge.overrideInAlarmEvent.priority", "high"}, "serviceData.alarmBridge.overrideInAlarmEvent.priority: must be a number"},
		{"ha1 hex", []any{"authType", "credentials", "ha1", "nothex"}, "ha1: must match ^[0-9a-fA-F]{32}$"},
		{"userid needs password", []any{"authType", "userid", "authorized", map[string]any{"domain": "d"}}, "password: required when authType is userid"},
		{"userid needs authorized", []any{"authType", "userid", "password", "pw"}, "authorized: required when authType is userid"},
		{"userid ok", []any{"authType", "userid", "password", "pw", "authorized", map[string]any{"domain": "d", "invite": ".*", "register": true}}, ""},
	})
	// Not a JSON object at all.
	e.t = t
	e.refused("PUT", "/provisioning/device/d", `[1,2]`, "body: must be a JSON object")
	e.refused("PUT", "/provisioning/device/d", `{"deviceId":`, "body: invalid JSON: unexpected EOF")
	e.refused("PUT", "/provisioning/device/d", `{"deviceId":"a","authType":"deviceid"} {}`, "body: invalid JSON: data after the value")
	e.refused("PUT", "/provisioning/device/d", ``, "body: required")
}

func trunkBase() map[string]any {
	return obj2("destinationTarget", "sip.example.net", "destinationTransport", "udp", "destinationMatch", "^00")
}

func TestValidateTrunk(t *testing.T) {
	e := newEnv(t)
	runTable(t, e, "PUT", "/provisioning/trunk/d/t1", trunkBase(), []vcase{
		{"ok", nil, ""},
		{"destinationTarget required", []any{"destinationTarget", nil}, "destinationTarget: required"},
		{"destinationTransport required", []any{"destinationTransport", nil}, "destinationTransport: required"},
		{"destinationMatch required", []any{"destinationMatch", nil}, "destinationMatch: required"},
		{"destinationMatch compiles", []any{"destinationMatch", "a(b"}, "destinationMatch: must be a valid regular expression: missing closing ): `a(b`"},
		{"destinationRewrite compiles", []any{"destinationRewrite", "/*x/y/"}, "destinationRewrite: pattern \"*x\": error parsing regexp: missing argument to repetition operator: `*`"},
		{"destinationRewrite form", []any{"destinationRewrite", "^00"}, `destinationRewrite: "^00" is not /pattern/replacement/ (e.g. /^0/+44/)`},
		{"destinationRewrite ok", []any{"destinationRewrite", "/^00/+/"}, ""},
		{"destinationRewrite sed ok", []any{"destinationRewrite", `s/^0(\d+)/+44\1/`}, ""},
		{"destinationTransport value", []any{"destinationTransport", "ws"}, `destinationTransport: "ws" is not udp, tcp or tls`},
		{"destinationTransport tcp", []any{"destinationTransport", "tcp"}, ""},
		{"localCodec GSM refused", []any{"localCodec", "GSM"}, "localCodec: GSM cannot be honoured: the gateway has no GSM 06.10 codec (use PCMU or PCMA)"},
		{"localCodec PCMA", []any{"localCodec", "PCMA", "trunksideCodec", "PCMU", "transcode", true}, ""},
		{"blacklistPattern compiles", []any{"blacklistPattern", "[z-a]"}, "blacklistPattern: must be a valid regular expression: invalid character class range: `z-a`"},
		{"localCodec enum", []any{"localCodec", "G729"}, "localCodec: must be one of GSM, PCMU, PCMA"},
		{"trunksideCodec enum", []any{"trunksideCodec", "opus"}, "trunksideCodec: must be one of GSM, PCMU, PCMA"},
		{"type value", []any{"type", "gateway"}, "type: must be one of trunk"},
		{"sourceNetworks ip", []any{"sourceNetworks", []any{"10.0.0.0/8", "192.0.2.7"}}, ""},
		{"sourceNetworks single string", []any{"sourceNetworks", "10.1.2.3"}, ""},
		{"sourceNetworks bad", []any{"sourceNetworks", []any{"10.0.0.0/8", "example.com"}}, "sourceNetworks[1]: must be an IPv4 address or CIDR"},
		{"sourceNetworks v6", []any{"sourceNetworks", []any{"2001:db8::/32"}}, "sourceNetworks[0]: must be an IPv4 address or CIDR"},
		{"usePrivateIP bool", []any{"usePrivateIP", "true"}, "usePrivateIP: must be a boolean (true or false)"},
		{"credentials together", []any{"userName", "u"}, "realm: required: userName, realm and password must be given together"},
		{"credentials together 2", []any{"userName", "u", "realm", "r"}, "password: required: userName, realm and password must be given together"},
		{"credentials together 3", []any{"password", "p"}, "userName: required: userName, realm and password must be given together"},
		// The PBX trunk API's registration extensions.
		{"register bool", []any{"register", "yes"}, "register: must be a boolean (true or false)"},
		{"registerInterval min", []any{"registerInterval", 30}, "registerInterval: must be >= 60"},
		{"registerInterval integer", []any{"registerInterval", 600.5}, "registerInterval: must be an integer"},
		{"keepAliveInterval min", []any{"keepAliveInterval", 5}, "keepAliveInterval: must be >= 10"},
		{"concurrency min", []any{"concurrency", -1}, "concurrency: must be >= 0"},
		{"didNumbers pattern", []any{"didNumbers", "3000;12000-"}, "didNumbers: must match ^[0-9]+(-[0-9]+)?(;[0-9]+(-[0-9]+)?)*$"},
		{"outboundServerPort max", []any{"outboundServerPort", 70000}, "outboundServerPort: must be <= 65535"},
		{"register without userName", []any{"register", true}, "userName: required when register is on"},
		{"registration ok", []any{"register", true, "userName", "gw", "realm", "sip.example.net", "password", "pw", "registerInterval", 600, "keepAlive", false, "keepAliveInterval", 360, "concurrency", 4, "didNumbers", "3000;12000-18000", "outboundServer", "proxy.example.net", "outboundServerPort", 5060}, ""},
	})
}

func TestValidateTrustedNetwork(t *testing.T) {
	e := newEnv(t)
	runTable(t, e, "POST", "/provisioning/trustednetwork/d", obj2("network", "10.0.20.0/24"), []vcase{
		{"ok", nil, ""},
		{"single address", []any{"network", "192.0.2.7"}, ""},
		{"ipv6", []any{"network", "2001:db8::/32"}, ""},
		{"network required", []any{"network", nil}, "network: required"},
		{"network form", []any{"network", "10.0.20.0/33"}, "network: must be a CIDR network or an IP address"},
	})
}

func TestValidateAlarmbridge(t *testing.T) {
	e := newEnv(t)
	base := obj2("protocol", "tt92", "protocolMode", "dtmf", "destinationMatch", "^alarm", "name", "AB")
	runTable(t, e, "POST", "/provisioning/alarmbridge/d", base, []vcase{
		{"ok", nil, ""},
		{"protocol required", []any{"protocol", nil}, "protocol: required"},
		{"protocolMode required", []any{"protocolMode", nil}, "protocolMode: required"},
		{"name required", []any{"name", nil}, "name: required"},
		{"destinationMatch required", []any{"destinationMatch", nil}, "destinationMatch: required"},
		{"protocol enum", []any{"protocol", "sia"}, "protocol: must be one of api, bs8521, deviceProvisioned, nowip, scaip, tt92, ttnew, multiprotocol, voicecall, nowipcontroller, contactid"},
		{"protocol contactid extension", []any{"protocol", "contactid"}, ""},
		{"protocolMode enum", []any{"protocolMode", "fsk"}, "protocolMode: must be one of dtmf, sdmf"},
		{"protocolMode sdmf", []any{"protocolMode", "sdmf"}, ""},
		{"fallbackAlarmProtocol enum", []any{"fallbackAlarmProtocol", "api"}, "fallbackAlarmProtocol: must be one of bs8521, scaip, tt92, ttnew"},
		{"defaultHeartbeatInterval min", []any{"defaultHeartbeatInterval", 299999}, "defaultHeartbeatInterval: must be >= 300000"},
		{"defaultHeartbeatInterval ok", []any{"defaultHeartbeatInterval", 300000}, ""},
		{"customerSiteId pattern", []any{"customerSiteId", "site 1"}, `customerSiteId: must match ^[a-zA-Z0-9_\-\.]+$`},
		{"customerSiteId ok", []any{"customerSiteId", "site_1.a-b"}, ""},
		{"callbackBaseUrl https", []any{"callbackBaseUrl", "http://arc.example.com/cb"}, "callbackBaseUrl: must be a URL starting with https://"},
		{"callbackBaseUrl loopback http extension", []any{"callbackBaseUrl", "http://127.0.0.1:9000/cb"}, ""},
		{"callbackBaseUrl https ok", []any{"callbackBaseUrl", "https://arc.example.com/cb"}, ""},
		{"toneSettings enum", []any{"toneSettings.dtmfSendType", "info"}, "toneSettings.dtmfSendType: must be one of 2833, inaudio"},
		{"toneSettings ok", []any{"toneSettings.dtmfSendType", "inaudio"}, ""},
		{"toneSettings per leg", []any{"toneSettings.callerDtmfSendType", "inaudio"}, ""},
		{"toneSettings per leg enum", []any{"toneSettings.calleeDtmfSendType", "info"}, "toneSettings.calleeDtmfSendType: must be one of 2833, inaudio"},
		{"controlCommandsEnabled false", []any{"controlCommandsEnabled", false}, ""},
		{"useVPNConnection true refused", []any{"useVPNConnection", true}, "useVPNConnection: true is not honoured: the gateway has no VPN of its own and always uses the addresses of its interfaces"},
		{"restAuthentication type", []any{"restAuthentication", []any{map[string]any{"type": "HS512"}}}, "restAuthentication[0].type: must be one of RS256"},
		{"restAuthentication array", []any{"restAuthentication", map[string]any{}}, "restAuthentication: must be an array"},
		{"controlCommandsEnabled bool", []any{"controlCommandsEnabled", "no"}, "controlCommandsEnabled: must be a boolean (true or false)"},
		{"id pattern", []any{"id", "a b"}, `id: must match ^[a-zA-Z0-9\-_:~+][a-zA-Z0-9\-\._:~+]{0,127}$`},
	})
	// Defaults of the provisioning schema are filled in.
	e.t = t
	r := e.must(200, "POST", "/provisioning/alarmbridge/d", with(base, "id", "defaults"))
	got := e.must(200, "GET", "/provisioning/alarmbridge/d/defaults", nil).body["alarmbridge"].(map[string]any)
	want := map[string]any{"defaultHeartbeatInterval": 300000.0, "useVPNConnection": false, "callbackTimeout": 15000.0,
		"controlCommandsEnabled": true, "arcDisconnectClearsCall": true, "id": "defaults"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("default %s = %v, want %v", k, got[k], v)
		}
	}
	if r.str("id") != "defaults" {
		t.Errorf("create answered id %q", r.str("id"))
	}
	// A given value is kept over the default.
	e.must(200, "PUT", "/provisioning/alarmbridge/d/defaults", with(base, "callbackTimeout", 5000))
	got = e.must(200, "GET", "/provisioning/alarmbridge/d/defaults", nil).body["alarmbridge"].(map[string]any)
	if got["callbackTimeout"] != 5000.0 {
		t.Errorf("explicit callbackTimeout replaced by the default")
	}
	e.refused("PUT", "/provisioning/alarmbridge/d/defaults", with(base, "id", "other"), "id: must match the id in the path (defaults)")
}

func mapperBase() map[string]any {
	return obj2("alarmHandling", "callEmergencyCenter", "name", "M", "targetEndpoint", map[string]any{"protocol": "scaip", "destAddr": "sip:arc@example.com"})
}

func TestValidateAlarmEventMapper(t *testing.T) {
	e := newEnv(t)
	runTable(t, e, "POST", "/provisioning/alarmeventmapper/d", mapperBase(), []vcase{
		{"ok", nil, ""},
		{"alarmHandling required", []any{"alarmHandling", nil}, "alarmHandling: required"},
		{"targetEndpoint required", []any{"targetEndpoint", nil}, "targetEndpoint: required"},
		{"name required", []any{"name", nil}, "name: required"},
		{"alarmHandling enum", []any{"alarmHandling", "ignore"}, "alarmHandling: must be one of callEmergencyCenter, usePredefinedDestination, requestCallback, drop"},
		{"targetEndpoint.protocol enum", []any{"targetEndpoint.protocol", "ftp"}, "targetEndpoint.protocol: must be one of scaip, dc09, http, https"},
		{"targetEndpoint.protocol dc09 extension", []any{"targetEndpoint.protocol", "dc09"}, ""},
		{"deviceIdPadLength max", []any{"deviceIdPadLength", 11}, "deviceIdPadLength: must be <= 10"},
		{"deviceIdPadLength min", []any{"deviceIdPadLength", -1}, "deviceIdPadLength: must be >= 0"},
		{"deviceIdPadLength integer", []any{"deviceIdPadLength", 2.5}, "deviceIdPadLength: must be an integer"},
		{"controllerIdPadLength max", []any{"controllerIdPadLength", 11}, "controllerIdPadLength: must be <= 10"},
		{"controllerIdPadLength 10 ok", []any{"controllerIdPadLength", 10}, ""},
		{"mapDeviceIdToControllerId bool", []any{"mapDeviceIdToControllerId", "false"}, "mapDeviceIdToControllerId: must be a boolean (true or false)"},
		{"backupEndpoint object", []any{"targetEndpoint.backupEndpoint", "x"}, "targetEndpoint.backupEndpoint: must be an object"},
		{"maxSessionDuration number", []any{"maxSessionDuration", "1h"}, "maxSessionDuration: must be a number"},
		{"maxSessionDuration seconds", []any{"maxSessionDuration", 1.5}, ""},
		{"maxSessionDuration negative", []any{"maxSessionDuration", -1}, "maxSessionDuration: must be >= 0"},
	})
	e.t = t
	e.must(200, "POST", "/provisioning/alarmeventmapper/d", with(mapperBase(), "id", "m1"))
	got := e.must(200, "GET", "/provisioning/alarmeventmapper/d/m1", nil).body["alarmeventmapper"].(map[string]any)
	if got["deviceIdPadLength"] != 0.0 || got["controllerIdPadLength"] != 0.0 || got["mapDeviceIdToControllerId"] != false {
		t.Fatalf("defaults not applied: %v", got)
	}
}

func mediaBase() map[string]any {
	return obj2("destinationMatch", "^ivr", "callbackBaseUrl", "https://ivr.example.com", "restAuthentication", []any{}, "name", "IVR")
}

func TestValidateMediaService(t *testing.T) {
	e := newEnv(t)
	runTable(t, e, "POST", "/provisioning/mediaservice/d", mediaBase(), []vcase{
		{"accepted", nil, ""},
		{"googleApikey refused", []any{"googleApikey", "k"}, "googleApikey: not honoured: cloud text to speech cannot run on a gateway (phrases play prompt files)"},
		{"disableLateOffer false refused", []any{"disableLateOffer", false}, "disableLateOffer: false is not honoured: the gateway's outbound calls always carry their SDP offer in the INVITE (set true or leave it out)"},
		{"disableLateOffer true", []any{"disableLateOffer", true}, ""},
		{"destinationMatch required", []any{"destinationMatch", nil}, "destinationMatch: required"},
		{"callbackBaseUrl required", []any{"callbackBaseUrl", nil}, "callbackBaseUrl: required"},
		{"restAuthentication required", []any{"restAuthentication", nil}, "restAuthentication: required"},
		{"name required", []any{"name", nil}, "name: required"},
		{"callbackBaseUrl https", []any{"callbackBaseUrl", "ftp://x"}, "callbackBaseUrl: must be a URL starting with https://"},
		{"ivrRefresherExpiration >= 0", []any{"ivrRefresherExpiration", -1}, "ivrRefresherExpiration: must be >= 0"},
		{"replySessionExpiration >= 0", []any{"replySessionExpiration", -0.5}, "replySessionExpiration: must be >= 0"},
		{"offeredCodecs enum", []any{"offeredCodecs", []any{"PCMA", "G722"}}, "offeredCodecs[1]: must be one of opus, PCMA, PCMU"},
		{"offeredCodecs refused", []any{"offeredCodecs", []any{"opus", "PCMU"}}, "offeredCodecs: not honoured yet: an INVITE without SDP is offered the engine's codecs (PCMA, PCMU)"},
		{"googleServiceKey object", []any{"googleServiceKey", "k"}, "googleServiceKey: must be an object"},
		{"destinationMatch regex", []any{"destinationMatch", "(?P<x"}, "destinationMatch: must be a valid regular expression: invalid named capture: `(?P<x`"},
	})
}

func TestValidateCloudSipUA(t *testing.T) {
	e := newEnv(t)
	base := obj2("destinationMatch", "^ua", "callbackBaseUrl", "https://ua.example.com", "name", "UA")
	runTable(t, e, "POST", "/provisioning/cloudsipua/d", base, []vcase{
		{"ok", nil, ""},
		{"restAuthentication checked", []any{"restAuthentication", []any{map[string]any{"type": "RS256", "secret": "not a key"}}}, "restAuthentication[0].secret: an RS256 secret must be an RSA private key in PEM form (-----BEGIN PRIVATE KEY-----)"},
		{"destinationMatch required", []any{"destinationMatch", nil}, "destinationMatch: required"},
		{"callbackBaseUrl required", []any{"callbackBaseUrl", nil}, "callbackBaseUrl: required"},
		{"name required", []any{"name", nil}, "name: required"},
		{"callbackTimeout number", []any{"callbackTimeout", "5s"}, "callbackTimeout: must be a number"},
	})
}

func TestValidateSettingsProfileLogsKeys(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/provisioning/notificationsettings/d", "/provisioning/siprecservice/d"} {
		runTable(t, e, "PUT", p, obj2(), []vcase{
			{"ok", nil, ""},
			{"httpTimeout int32", []any{"httpTimeout", 1.5}, "httpTimeout: must be an integer"},
			{"httpTimeout bound", []any{"httpTimeout", int64(1) << 40}, "httpTimeout: must fit in 32 bits"},
			{"sipEventsRestEndpoint http", []any{"sipEventsRestEndpoint", "ws://x"}, "sipEventsRestEndpoint: must be a URL starting with http:// or https://"},
			{"alarmbridgeCallbackEndpoint http", []any{"alarmbridgeCallbackEndpoint", "x"}, "alarmbridgeCallbackEndpoint: must be a URL starting with http:// or https://"},
			{"useHttpEvents bool", []any{"useHttpEvents", "true"}, "useHttpEvents: must be a boolean (true or false)"},
		})
	}
	runTable(t, e, "PUT", "/provisioning/currentuser/profile", obj2("firstName", "A"), []vcase{
		{"ok", nil, ""},
		{"emailConsent int32", []any{"emailConsent", "now"}, "emailConsent: must be a number"},
	})
	runTable(t, e, "POST", "/provisioning/currentuser/profile", obj2("firstName", "A"), []vcase{
		{"ok", nil, ""},
		{"termsAgreed int32", []any{"termsAgreed", 1.25}, "termsAgreed: must be an integer"},
		{"profileReviewed bool", []any{"profileReviewed", "y"}, "profileReviewed: must be a boolean (true or false)"},
	})
	runTable(t, e, "POST", "/provisioning/logs/d/sip", obj2(), []vcase{
		{"ok", nil, ""},
		{"limit integer", []any{"limit", "ten"}, "limit: must be a number"},
		{"limit min", []any{"limit", -1}, "limit: must be >= 0"},
		{"limit max", []any{"limit", 1001}, "limit: must be <= 1000"},
		{"startTime min", []any{"startTime", -5}, "startTime: must be >= 0"},
		{"end before start", []any{"startTime", 2000, "endTime", 1000}, "endTime: must not be before startTime"},
	})
	runTable(t, e, "POST", "/provisioning/apiKey/d", obj2("key", ""), []vcase{
		{"ok random", nil, ""},
		{"key required", []any{"key", nil}, "key: required"},
		{"short token", []any{"key", "short"}, "key: a token must be at least 16 characters"},
		{"bad pem", []any{"key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, "key: not a valid RSA public key in PEM form"},
	})
}

func TestLimitAndParameters(t *testing.T) {
	e := newEnv(t)
	e.refused("GET", "/provisioning/device/d?limit=101", nil, "limit: must be an integer from 1 to 100")
	e.refused("GET", "/provisioning/device/d?limit=0", nil, "limit: must be an integer from 1 to 100")
	e.refused("GET", "/provisioning/trunk/d?limit=x", nil, "limit: must be an integer from 1 to 100")
	e.must(200, "GET", "/provisioning/device/d?limit=100", nil)
	e.refused("GET", "/provisioning/alarmbridge/d?provisory=yes", nil, "provisory: must be true or false")
	e.refused("GET", "/provisioning/device/d?nextToken=garbage", nil, "nextToken: not a token issued by this endpoint")
	e.refused("GET", "/provisioning/statistics/d/cdr_x/day", nil, "type: must be one of cdr_siprec, cdr")
	e.refused("GET", "/provisioning/statistics/d/cdr_siprec/week", nil, "bucketsize: must be one of hour, day, month")
	e.refused("GET", "/provisioning/device/bad%20domain", nil, "domain: must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
	e.must(404, "PUT", "/provisioning/trunk/d/", trunkBase()) // an empty id matches no route
	e.refused("GET", "/provisioning/alarmbridge/d/"+stringsRepeat("x", 257), nil, "alarmBridgeId: must be at most 256 characters")
}

func TestStatusCodes(t *testing.T) {
	e := newEnv(t)
	// 404: unknown path and missing resources.
	e.must(404, "GET", "/provisioning/nothing", nil)
	e.must(404, "GET", "/provisioning/device/d/nodev", nil)
	e.must(404, "DELETE", "/provisioning/trunk/d/none", nil)
	e.must(404, "PATCH", "/provisioning/alarmbridge/d/none", `[]`)
	// 405 with Allow.
	r := e.must(405, "POST", "/provisioning/device/d/x", obj2())
	if r.hdr.Get("Allow") != "DELETE, GET, OPTIONS, PATCH" {
		t.Fatalf("Allow %q", r.hdr.Get("Allow"))
	}
	// 415: wrong content type.
	r = e.must(415, "PUT", "/provisioning/device/d", `deviceId=x`, "application/x-www-form-urlencoded")
	if r.str("reason") != `Content-Type must be application/json (got "application/x-www-form-urlencoded")` {
		t.Fatalf("415 reason %q", r.str("reason"))
	}
	e.must(415, "PUT", "/provisioning/device/d/bulk/b1", "deviceId,authType\n", "application/json")
	// 413: JSON over 1 MB.
	big := `{"deviceId":"x","authType":"deviceid","description":"` + string(make([]byte, 0)) + stringsRepeat("a", 1<<20) + `"}`
	e.must(413, "PUT", "/provisioning/device/d", big)
	// OPTIONS answers every path without a key, with the allowed methods.
	r = e.doKey("", "OPTIONS", "/provisioning/trunk/d/t", nil)
	if r.status != 200 || r.hdr.Get("Access-Control-Allow-Methods") != "DELETE, GET, OPTIONS, PATCH, PUT" {
		t.Fatalf("OPTIONS: %d %q", r.status, r.hdr.Get("Access-Control-Allow-Methods"))
	}
	if e.dump() != "" {
		t.Fatalf("refused requests stored something: %s", e.dump())
	}
}

func stringsRepeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for i := 0; i < n; i++ {
		b = append(b, s...)
	}
	return string(b)
}

var _ = json.Marshal

// controlCommandsEnabled's description in /openapi.json says what false
// does on this gateway, the FXS line's difference included (there the
// gateway is the only media path, so false only refuses the commands).
func TestControlCommandsEnabledDescribed(t *testing.T) {
	e := newEnv(t)
	spec := e.do("GET", "/openapi.json", nil)
	_, field, _ := strings.Cut(string(spec.raw), `"controlCommandsEnabled": {`)
	field, _, _ = strings.Cut(field, "}")
	for _, want := range []string{`"default": true`, "re-INVITEd with the other's media", "On the FXS line the gateway is the only media path", "false only refuses the in-call commands"} {
		if !strings.Contains(field, want) {
			t.Fatalf("/openapi.json: controlCommandsEnabled lacks %q:\n%s", want, field)
		}
	}
}
