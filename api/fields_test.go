package api

import (
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/engine"
)

var updateFields = flag.Bool("update-fields", false, "rewrite api/FIELDS.md from the field table")

// runtimeTypes are the structs the runtime loaders decode each resource
// into; a field the table says the runtime reads must be one of theirs,
// unless the note says the API itself reads or writes it.
var runtimeTypes = map[string][]reflect.Type{
	"device": {reflect.TypeFor[engine.Device](), reflect.TypeFor[alarm.Device]()},
	"trunk":  {reflect.TypeFor[engine.Trunk]()},
	"alarmbridge": {reflect.TypeFor[alarm.AlarmBridge](), reflect.TypeFor[struct {
		RestAuthentication []delivery.RestAuth `json:"restAuthentication"`
	}]()},
	"alarmeventmapper": {reflect.TypeFor[alarm.EventMapper]()},
	"user":             {reflect.TypeFor[engine.User]()},
	"group":            {reflect.TypeFor[engine.Group]()},
	"limit":            {reflect.TypeFor[engine.LimitDoc]()},
}

func TestFieldTable(t *testing.T) {
	// 1. The table covers exactly the schemas' fields.
	for res, s := range fieldResources() {
		want := schemaFields(s)
		var got []string
		for n := range fieldTable[res] {
			got = append(got, n)
		}
		slices.Sort(got)
		for _, n := range want {
			if _, ok := fieldTable[res][n]; !ok {
				t.Errorf("%s.%s: in the schema, not in the field table", res, n)
			}
		}
		for _, n := range got {
			if !slices.Contains(want, n) {
				t.Errorf("%s.%s: in the field table, not in the schema", res, n)
			}
		}
	}
	for res := range fieldTable {
		if fieldResources()[res] == nil {
			t.Errorf("%s: in the field table but no resource", res)
		}
	}
	// 2. Each state is one of three and has its note.
	for res, uses := range fieldTable {
		for n, u := range uses {
			switch u.state {
			case stateRuntime, statePlatform, stateRefused:
			default:
				t.Errorf("%s.%s: state %q", res, n, u.state)
			}
			if u.note == "" {
				t.Errorf("%s.%s: no note", res, n)
			}
			if u.state != stateRefused && (u.refuse != nil || u.sample != nil) {
				t.Errorf("%s.%s: refusal rule on a field that is not refused", res, n)
			}
		}
	}
	// 3. A field read by the runtime is a field of the runtime's struct.
	for res, types := range runtimeTypes {
		for n, u := range fieldTable[res] {
			if u.state != stateRuntime || strings.HasPrefix(u.note, "api ") || strings.HasPrefix(u.note, "written by") {
				continue
			}
			found := false
			for _, ty := range types {
				found = found || hasJSONPath(ty, strings.Split(strings.ReplaceAll(n, "[]", ""), "."))
			}
			if !found {
				t.Errorf("%s.%s: the table says the runtime reads it, but no runtime struct of %s has it", res, n, res)
			}
		}
	}
	// 4. Each refused field is refused, naming the field and the rule.
	for res, uses := range fieldTable {
		schema := fieldResources()[res]
		for n, u := range uses {
			if u.state != stateRefused {
				continue
			}
			sample := u.sample
			fs := schema.lookup(strings.ReplaceAll(n, "[]", ".items"))
			if fs == nil {
				fs = lookupItems(schema, n)
			}
			if sample == nil {
				sample = sampleOf(fs)
			}
			doc := map[string]any{}
			setPath(doc, n, sample)
			if _, err := fs.validate(n, sample); err != nil {
				t.Errorf("%s.%s: the sample %v is not even valid: %v", res, n, sample, err)
			}
			err := refuseFields(res, doc)
			want := strings.ReplaceAll(n, "[]", "[0]") + ": " + u.note
			if err == nil || err.Error() != want {
				t.Errorf("%s.%s = %v: got %v, want %q", res, n, sample, err, want)
			}
		}
	}
	// 5. FIELDS.md is current.
	md := fieldsMarkdown()
	if *updateFields {
		if err := os.WriteFile("FIELDS.md", []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile("FIELDS.md"); err != nil || string(b) != md {
		t.Errorf("api/FIELDS.md is stale: go test ./api -run TestFieldTable -update-fields")
	}
	// 6. README lists every platform-only field.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for res, uses := range fieldTable {
		for n, u := range uses {
			if u.state == statePlatform && !strings.Contains(string(readme), "`"+res+"."+n+"`") && !readmeListsResource(string(readme), res, n) {
				t.Errorf("README does not say %s.%s is kept for the cloud platform only", res, n)
			}
		}
	}
}

// readmeListsResource: a README line "- `res`: `a`, `b`" lists a and b.
func readmeListsResource(readme, res, name string) bool {
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "- `"+res+"`:") && strings.Contains(line, "`"+name+"`") {
			return true
		}
	}
	return false
}

func lookupItems(s *Schema, dotted string) *Schema {
	cur := s
	for _, part := range strings.Split(dotted, ".") {
		name, arr := strings.CutSuffix(part, "[]")
		if cur == nil || cur.Properties == nil {
			return nil
		}
		cur = cur.Properties[name]
		if arr && cur != nil {
			cur = cur.Items
		}
	}
	return cur
}

func setPath(doc map[string]any, dotted string, v any) {
	parts := strings.Split(dotted, ".")
	cur := doc
	for i, p := range parts {
		name, arr := strings.CutSuffix(p, "[]")
		last := i == len(parts)-1
		switch {
		case last && !arr:
			cur[name] = v
		case arr:
			item := map[string]any{}
			cur[name] = []any{item}
			if last {
				cur[name] = []any{v}
			}
			cur = item
		default:
			next := map[string]any{}
			cur[name] = next
			cur = next
		}
	}
}

// sampleOf is a value the schema accepts.
func sampleOf(s *Schema) any {
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	switch s.Type {
	case "boolean":
		return true
	case "number", "integer":
		return 1.0
	case "object":
		return map[string]any{}
	case "array":
		return []any{sampleOf(s.Items)}
	}
	if s.Format == "uri" {
		return "https://example.com"
	}
	return "x"
}

func hasJSONPath(t reflect.Type, parts []string) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			break // json.RawMessage: a whole object
		}
		t = t.Elem()
	}
	if len(parts) == 0 {
		return true
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			if hasJSONPath(f.Type, parts) {
				return true
			}
			continue
		}
		if name == parts[0] {
			return hasJSONPath(f.Type, parts[1:])
		}
	}
	return false
}
