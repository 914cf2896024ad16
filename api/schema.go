package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Schema is the subset of an OpenAPI 3.0 schema object the provisioning API
// needs. One value serves twice: it validates request bodies and it is
// marshalled into /openapi.json, so the document cannot drift from the code.
type Schema struct {
	Type        string             `json:"type,omitempty"`
	Format      string             `json:"format,omitempty"`
	Description string             `json:"description,omitempty"`
	Enum        []any              `json:"enum,omitempty"`
	Pattern     string             `json:"pattern,omitempty"`
	Minimum     *float64           `json:"minimum,omitempty"`
	Maximum     *float64           `json:"maximum,omitempty"`
	MaxLength   *uint64            `json:"maxLength,omitempty"`
	Default     any                `json:"default,omitempty"`
	Properties  map[string]*Schema `json:"properties,omitempty"`
	Required    []string           `json:"required,omitempty"`
	Items       *Schema            `json:"items,omitempty"`
	AnyOf       []*Schema          `json:"anyOf,omitempty"`
	ReadOnly    bool               `json:"readOnly,omitempty"`
	// Extension, when set, says how this field departs from the provisioning schema (a
	// gateway extension); it appears as x-edgebridge-extension.
	Extension string `json:"x-edgebridge-extension,omitempty"`

	re    func() *regexp.Regexp // compiled on first use: most patterns of an idle gateway never are
	check func(v any) string    // extra rule; returns the broken rule or ""
}

// fieldError is a validation failure: the field's dotted path and the rule.
type fieldError struct {
	Field string
	Rule  string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Rule }

func ferr(field, format string, a ...any) *fieldError {
	if field == "" {
		field = "body"
	}
	return &fieldError{Field: field, Rule: fmt.Sprintf(format, a...)}
}

// Builders: a compact way to transcribe the provisioning schema.

func str() *Schema     { return &Schema{Type: "string"} }
func num() *Schema     { return &Schema{Type: "number"} }
func int32s() *Schema  { return &Schema{Type: "integer", Format: "int32"} }
func int64s() *Schema  { return &Schema{Type: "integer", Format: "int64"} }
func boolean() *Schema { return &Schema{Type: "boolean"} }
func anyObj() *Schema  { return &Schema{Type: "object"} }
func arr(items *Schema) *Schema {
	return &Schema{Type: "array", Items: items}
}

// field is one property of an object under construction.
type field struct {
	name     string
	s        *Schema
	required bool
}

func opt(name string, s *Schema) field { return field{name, s, false} }
func req(name string, s *Schema) field { return field{name, s, true} }

func obj(fields ...field) *Schema {
	s := &Schema{Type: "object", Properties: map[string]*Schema{}}
	for _, f := range fields {
		s.Properties[f.name] = f.s
		if f.required {
			s.Required = append(s.Required, f.name)
		}
	}
	return s
}

func (s *Schema) desc(d string) *Schema { s.Description = d; return s }
func (s *Schema) enum(v ...string) *Schema {
	for _, x := range v {
		s.Enum = append(s.Enum, x)
	}
	return s
}

// ext adds extension enum values and marks the schema as extended.
func (s *Schema) ext(note string, v ...string) *Schema {
	s.enum(v...)
	s.Extension = note
	return s
}
func (s *Schema) pattern(p string) *Schema {
	s.Pattern = p
	s.re = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(p) })
	return s
}
func (s *Schema) min(v float64) *Schema    { s.Minimum = &v; return s }
func (s *Schema) max(v float64) *Schema    { s.Maximum = &v; return s }
func (s *Schema) maxLen(n uint64) *Schema  { s.MaxLength = &n; return s }
func (s *Schema) def(v any) *Schema        { s.Default = v; return s }
func (s *Schema) format(f string) *Schema  { s.Format = f; return s }
func (s *Schema) readOnly() *Schema        { s.ReadOnly = true; return s }
func (s *Schema) extNote(n string) *Schema { s.Extension = n; return s }
func (s *Schema) rule(fn func(v any) string) *Schema {
	s.check = fn
	return s
}

// regex is a string that must compile as a Go (RE2) regular expression: the
// engine matches destinations with it.
func regex() *Schema {
	return str().format("regex").rule(func(v any) string {
		if _, err := regexp.Compile(v.(string)); err != nil {
			return "must be a valid regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
		}
		return ""
	})
}

// httpsURL is a callback base URL. The provisioning schema requires https://; as a gateway
// extension plain http:// is accepted for a loopback host, so a receiver on
// the gateway itself (or a test) needs no certificate.
func httpsURL() *Schema {
	return str().format("uri").extNote("http:// is also accepted for loopback hosts (127.0.0.0/8, ::1, localhost)").rule(func(v any) string {
		u, err := url.Parse(v.(string))
		if err != nil || u.Host == "" {
			return "must be a URL starting with https://"
		}
		if u.Scheme == "https" {
			return ""
		}
		if u.Scheme == "http" {
			h := u.Hostname()
			if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
				return ""
			}
		}
		return "must be a URL starting with https://"
	})
}

// httpURL must start with http:// or https:// (notification endpoints).
func httpURL() *Schema {
	return str().format("uri").rule(func(v any) string {
		u, err := url.Parse(v.(string))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "must be a URL starting with http:// or https://"
		}
		return ""
	})
}

// validate checks v against s and returns it with defaults filled in.
// path is the dotted name of v for error messages.
func (s *Schema) validate(path string, v any) (any, error) {
	if len(s.AnyOf) > 0 {
		var first error
		for _, alt := range s.AnyOf {
			out, err := alt.validate(path, v)
			if err == nil {
				return out, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
	if s.Type == "" {
		return v, nil // any JSON value, null included
	}
	if v == nil {
		return nil, ferr(path, "must not be null")
	}
	switch s.Type {
	case "string":
		x, ok := v.(string)
		if !ok {
			return nil, ferr(path, "must be a string")
		}
		if s.MaxLength != nil && uint64(utf8.RuneCountInString(x)) > *s.MaxLength {
			return nil, ferr(path, "must be at most %d characters", *s.MaxLength)
		}
		if s.re != nil && !s.re().MatchString(x) {
			return nil, ferr(path, "must match %s", s.Pattern)
		}
	case "number", "integer":
		n, ok := v.(json.Number)
		if !ok {
			if f, isF := v.(float64); isF { // values built in Go, not decoded
				n, ok = json.Number(fmt.Sprint(f)), true
			}
		}
		if !ok {
			return nil, ferr(path, "must be a number")
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, ferr(path, "must be a number")
		}
		if s.Type == "integer" {
			if f != math.Trunc(f) {
				return nil, ferr(path, "must be an integer")
			}
			if s.Format == "int32" && (f < math.MinInt32 || f > math.MaxInt32) {
				return nil, ferr(path, "must fit in 32 bits")
			}
			if math.Abs(f) > 1<<53 {
				return nil, ferr(path, "must be at most 2^53 in magnitude")
			}
		}
		if s.Minimum != nil && f < *s.Minimum {
			return nil, ferr(path, "must be >= %v", *s.Minimum)
		}
		if s.Maximum != nil && f > *s.Maximum {
			return nil, ferr(path, "must be <= %v", *s.Maximum)
		}
		// Stored in canonical form ("6e2" and "600.0" become "600"), so that
		// typed readers (engine, alarm) can decode whole numbers into ints.
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			v = json.Number(strconv.FormatInt(int64(f), 10))
		} else {
			v = json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return nil, ferr(path, "must be a boolean (true or false)")
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return nil, ferr(path, "must be an array")
		}
		out := make([]any, len(a))
		for i, x := range a {
			y, err := s.Items.validate(fmt.Sprintf("%s[%d]", path, i), x)
			if err != nil {
				return nil, err
			}
			out[i] = y
		}
		v = out
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, ferr(path, "must be an object")
		}
		out := make(map[string]any, len(m)+len(s.Properties))
		for k, x := range m {
			out[k] = x // unknown fields are kept, as the cloud API does
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				return nil, ferr(join(path, r), "required")
			}
		}
		// Deterministic order so the first error reported is stable.
		names := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			ps := s.Properties[k]
			x, present := m[k]
			if !present {
				if ps.Default != nil {
					out[k] = ps.Default
				}
				continue
			}
			if ps.ReadOnly {
				delete(out, k) // server-owned; a client value is ignored
				continue
			}
			y, err := ps.validate(join(path, k), x)
			if err != nil {
				return nil, err
			}
			out[k] = y
		}
		v = out
	}
	if len(s.Enum) > 0 {
		found := false
		for _, e := range s.Enum {
			if e == v {
				found = true
				break
			}
		}
		if !found {
			vals := make([]string, len(s.Enum))
			for i, e := range s.Enum {
				vals[i] = fmt.Sprint(e)
			}
			return nil, ferr(path, "must be one of %s", strings.Join(vals, ", "))
		}
	}
	if s.check != nil {
		if rule := s.check(v); rule != "" {
			return nil, ferr(path, "%s", rule)
		}
	}
	return v, nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// lookup finds the schema of a dotted property path (for CSV columns).
func (s *Schema) lookup(dotted string) *Schema {
	cur := s
	for _, part := range strings.Split(dotted, ".") {
		if cur == nil || cur.Properties == nil {
			return nil
		}
		cur = cur.Properties[part]
	}
	return cur
}
