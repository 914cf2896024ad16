package api

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func loadDoc(t *testing.T, e *env) *openapi3.T {
	t.Helper()
	r := e.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("openapi.json: %d", r.status)
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.raw)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

// TestOpenAPIMatchesRouter walks the route table and then probes the live
// router with every method on every documented path: a route the document
// does not describe, or a documented operation the router does not serve,
// fails the test.
func TestOpenAPIMatchesRouter(t *testing.T) {
	e := newEnv(t)
	doc := loadDoc(t, e)
	for _, rt := range e.s.Routes() {
		item := doc.Paths.Value(rt.Path)
		if item == nil || item.GetOperation(rt.Method) == nil {
			t.Errorf("undocumented route %s %s", rt.Method, rt.Path)
		}
	}
	fill := regexp.MustCompile(`\{[^}]+\}`)
	methods := []string{"GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"}
	n := 0
	for path, item := range doc.Paths.Map() {
		concrete := fill.ReplaceAllString(path, "x1")
		for _, m := range methods {
			op := item.GetOperation(m)
			r := e.doKey(testAdminKey, m, concrete, nil)
			switch {
			case op == nil && r.status != 405:
				t.Errorf("%s %s is not documented but answers %d", m, path, r.status)
			case op != nil && r.status == 405:
				t.Errorf("%s %s is documented but the router refuses the method", m, path)
			case op != nil && r.status == 404 && strings.HasPrefix(r.str("reason"), "no such path"):
				t.Errorf("%s %s is documented but the router has no such path", m, path)
			}
			if op != nil {
				n++
				if _, ok := op.Responses.Map()["200"]; !ok {
					t.Errorf("%s %s: no 200 response documented", m, path)
				}
			}
		}
	}
	if n < 70 {
		t.Fatalf("only %d operations documented", n)
	}
	// Extensions are marked.
	raw := string(e.do("GET", "/openapi.json", nil).raw)
	for _, want := range []string{`"contactid"`, `"dc09"`, `x-edgebridge-extension`} {
		if !strings.Contains(raw, want) {
			t.Errorf("document lacks %s", want)
		}
	}
	ab := doc.Paths.Value("/provisioning/alarmbridge/{domain}").Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	if ab.Properties["protocol"].Value.Extensions["x-edgebridge-extension"] == nil {
		t.Errorf("alarmbridge protocol extension not marked")
	}
}

// seedSample is one request sample of the provisioning API document
// (testdata/api/seed000_provisioning.txt).
type seedSample struct {
	method, path string
	body         any
}

// seedSamples extracts the JSON request samples of the provisioning schema's rendered
// document, inferring each operation's method from its description (the
// rendering dropped the method badges).
func seedSamples(t *testing.T) []seedSample {
	f, err := os.Open("../testdata/api/seed000_provisioning.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	verbs := []struct{ prefix, method string }{
		{"Provision made devices", "PUT"}, {"Provision a", "POST"}, {"Add or modify", "PUT"}, {"Create a trunk", "POST"},
		{"Delete all", "DELETE"}, {"Patch", "PATCH"}, {"Modify or add properties", "PATCH"}, {"Create a new API key", "POST"},
		{"Set ", "PUT"}, {"Update the user profile", "PUT"}, {"Create a user profile", "POST"}, {"Overwrite", "PUT"},
		{"Gets SIP log items", "POST"},
	}
	var out []seedSample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var path, method string
	var lines []string
	inSample, expectDesc := false, false
	dash := regexp.MustCompile(`(^|[{\[,])\s*- `)
	trailing := regexp.MustCompile(`,(\s*[}\]])`)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "/") && !inSample:
			path, method, expectDesc = strings.TrimSpace(l), "", true
			continue
		case expectDesc:
			expectDesc = false
			for _, v := range verbs {
				if strings.HasPrefix(l, v.prefix) {
					method = v.method
				}
			}
		case l == "- Payload":
			inSample, lines = true, nil
			continue
		case inSample && l == "Response samples":
			inSample = false
			src := strings.Join(lines, "\n")
			src = dash.ReplaceAllString(src, "$1 ")
			src = trailing.ReplaceAllString(src, "$1") // the rendering left a trailing comma in the cloudsipua samples
			var v any
			if err := json.Unmarshal([]byte(src), &v); err != nil {
				t.Fatalf("sample of %s %s is not JSON after clean-up: %v\n%s", method, path, err, src)
			}
			if method == "" {
				t.Fatalf("no method inferred for the sample of %s", path)
			}
			out = append(out, seedSample{method: method, path: path, body: v})
			continue
		}
		if inSample {
			lines = append(lines, l)
		}
	}
	return out
}

// TestSeedSamples validates every request sample of the provisioning schema against the
// OpenAPI document and sends it to the live API. Where the schema contradicts
// itself (a sample without a field it marks required, a placeholder that
// breaks its own pattern) the expected refusal names the field; every
// other sample must be accepted by both.
func TestSeedSamples(t *testing.T) {
	e := newEnv(t)
	doc := loadDoc(t, e)
	samples := seedSamples(t)
	// key: METHOD path; value: the fields the schema's own sample gets wrong
	// (kin-openapi), and the API's exact reason ("" = accepted).
	type expect struct {
		kin []string
		api string
	}
	deviations := map[string]expect{
		// Samples omit fields the schema marks required.
		"POST /alarmbridge/{domain}":                  {[]string{"protocolMode", "customerSiteId"}, "protocolMode: required"},
		"PUT /alarmbridge/{domain}/{alarmBridgeId}":   {[]string{"protocolMode", "customerSiteId"}, "protocolMode: required"},
		"POST /mediaservice/{domain}":                 {[]string{"callbackBaseUrl"}, "callbackBaseUrl: required"},
		"PUT /mediaservice/{domain}/{mediaServiceId}": {[]string{"callbackBaseUrl"}, "callbackBaseUrl: required"},
		"POST /cloudsipua/{domain}":                   {[]string{"callbackBaseUrl"}, "callbackBaseUrl: required"},
		"PUT /cloudsipua/{domain}/{cloudSipUAId}":     {[]string{"callbackBaseUrl"}, "callbackBaseUrl: required"},
		// sourceNetworks is "a list of either cidr or IPv4" but the sample is [{}].
		"PUT /trunk/{domain}/{trunkId}": {[]string{"sourceNetworks"}, "sourceNetworks[0]: must be a string"},
		"POST /trunk/{domain}":          {[]string{"sourceNetworks"}, "sourceNetworks[0]: must be a string"},
		"PUT /trunk/{domain}":           {[]string{"sourceNetworks"}, "serviceDestination.sourceNetworks[0]: must be a string"},
		// The placeholder "string" is not an MD5 digest (gateway: stricter ha1).
		"PUT /device/{domain}": {[]string{"ha1"}, `ha1: must match ^[0-9a-fA-F]{32}$`},
		// The placeholder "string" is not a URL where the schema says "must start with http:// or https://".
		"PUT /notificationsettings/{domain}": {nil, "alarmEventsRestEndpoint: must be a URL starting with http:// or https://"},
		"PUT /siprecservice/{domain}":        {nil, "alarmEventsRestEndpoint: must be a URL starting with http:// or https://"},
		// JSON Patch samples: "path": "string" is not a JSON pointer to anything.
		"PATCH /trunk/{domain}/{trunkId}":                       {nil, "@404"},
		"PATCH /device/{domain}/{deviceId}":                     {nil, "@404"},
		"PATCH /mediaservice/{domain}/{mediaServiceId}":         {nil, "@404"},
		"PATCH /alarmbridge/{domain}/{alarmBridgeId}":           {nil, "@404"},
		"PATCH /cloudsipua/{domain}/{cloudSipUAId}":             {nil, "@404"},
		"PATCH /alarmeventmapper/{domain}/{alarmEventMapperId}": {nil, "@404"},
		// The placeholder "string" is shorter than a safe token (gateway rule).
		"POST /apiKey/{domain}": {nil, "key: a token must be at least 16 characters"},
		// The sample sets fields the gateway refuses (see api/FIELDS.md).
		"POST /alarmeventmapper/{domain}": {nil, "fromDomain: not honoured yet: the gateway does not rewrite the From domain toward the ARC"},
		// The overwrite sample carries "id": "string", not the id of its path.
		"PUT /alarmeventmapper/{domain}/{alarmEventMapperId}": {nil, "id: must match the id in the path (seeddom)"},
	}
	fill := regexp.MustCompile(`\{[^}]+\}`)
	seen := map[string]bool{}
	for _, s := range samples {
		key := s.method + " " + s.path
		seen[key] = true
		t.Run(key, func(t *testing.T) {
			e.t = t
			want := deviations[key]
			item := doc.Paths.Value("/provisioning" + s.path)
			if item == nil || item.GetOperation(s.method) == nil {
				t.Fatalf("the document has no operation %s", key)
			}
			rb := item.GetOperation(s.method).RequestBody
			if rb == nil {
				t.Fatalf("%s: no request body documented", key)
			}
			schema := rb.Value.Content.Get("application/json").Schema.Value
			kerr := schema.VisitJSON(s.body, openapi3.MultiErrors(), openapi3.VisitAsRequest())
			if len(want.kin) == 0 && kerr != nil {
				t.Errorf("schema sample refused by the document: %v", kerr)
			}
			for _, f := range want.kin {
				if kerr == nil || !strings.Contains(kerr.Error(), f) {
					t.Errorf("expected the document to refuse %s, got %v", f, kerr)
				}
			}
			r := e.do(s.method, "/provisioning"+fill.ReplaceAllString(s.path, "seeddom"), s.body)
			switch want.api {
			case "":
				if r.status != 200 {
					t.Errorf("schema sample refused by the API: %d %s", r.status, r.raw)
				}
				e.loadsAtRuntime()
			case "@404": // a patch of a document that does not exist
				if r.status != 404 {
					t.Errorf("patch sample: %d %s", r.status, r.raw)
				}
			default:
				if r.status != 400 || r.str("reason") != want.api {
					t.Errorf("API answered %d %q, want 400 %q", r.status, r.str("reason"), want.api)
				}
			}
		})
	}
	e.t = t
	for k := range deviations {
		if !seen[k] {
			t.Errorf("expected a schema sample for %s", k)
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) < 20 {
		t.Fatalf("only %d samples found: %v", len(keys), keys)
	}
}
