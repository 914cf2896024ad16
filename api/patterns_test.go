package api

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// validDomain checks domainPattern by hand; both agree.
func TestValidDomainIsDomainPattern(t *testing.T) {
	re := regexp.MustCompile(domainPattern)
	cases := []string{"", "local", "example.com", "a", "A-b_c.d", ".local", "-x", "_x", "x..y", "x/y", "x y",
		"héllo", "x#y", "x\x00", strings.Repeat("a", 253), strings.Repeat("a", 254), "9", "ü"}
	for _, d := range cases {
		if got, want := validDomain(d), re.MatchString(d); got != want {
			t.Errorf("validDomain(%q) = %v, the pattern says %v", d, got, want)
		}
	}
}

func TestPathParams(t *testing.T) {
	for path, want := range map[string][]string{
		"/provisioning/device/{domain}/{id}": {"domain", "id"},
		"/healthz":                           nil,
		"/x/{a{b}/{}/{c-d}/{e_1}":            {"b", "e_1"},
		"/x/{unclosed":                       nil,
	} {
		if got := pathParams(path); !slices.Equal(got, want) {
			t.Errorf("pathParams(%q) = %q, want %q", path, got, want)
		}
	}
}

// Schema patterns are compiled on first use: every one of them compiles.
func TestSchemaPatternsCompile(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/openapi.json", nil)
	if r.status != 200 {
		t.Fatalf("openapi.json: %d", r.status)
	}
	var doc any
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["pattern"].(string); ok {
				n++
				if _, err := regexp.Compile(p); err != nil {
					t.Errorf("pattern %q: %v", p, err)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	if n < 5 {
		t.Fatalf("only %d patterns in the document", n)
	}
}
