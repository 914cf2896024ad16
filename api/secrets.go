package api

import "strings"

// Nested secrets: stored and used by the runtime, never returned (GET,
// lists, the view a JSON Patch works on). A write that leaves one out, as a
// GET document written back does, keeps the stored value at the same place
// (for an array, the entry at the same index). Top-level secrets (device and
// trunk password) are kind.hidden, with their own rules in prepare.
var nestedSecrets = map[string][]string{
	"alarmbridge":          {"restAuthentication[].secret"},
	"notificationsettings": {"restAuthentication[].secret"},
	"mediaservice":         {"restAuthentication[].secret"},
	"cloudsipua":           {"restAuthentication[].secret"},
	"alarmeventmapper":     {"targetEndpoint.sipAuthPassword", "targetEndpoint.backupEndpoint.backupSipAuthPassword"},
}

// hideSecrets returns doc without the resource's nested secrets; doc itself
// is left as it was (its nested values may be shared with a stored copy).
func hideSecrets(resource string, doc map[string]any) map[string]any {
	paths := nestedSecrets[resource]
	if len(paths) == 0 || doc == nil {
		return doc
	}
	out := deepCopy(doc).(map[string]any)
	for _, p := range paths {
		hidePath(out, strings.Split(p, "."))
	}
	return out
}

// keepSecrets fills in doc the nested secrets it lacks from old.
func keepSecrets(resource string, doc, old map[string]any) {
	if old == nil {
		return
	}
	for _, p := range nestedSecrets[resource] {
		carryPath(doc, old, strings.Split(p, "."))
	}
}

func hidePath(v any, parts []string) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	name, arr := strings.CutSuffix(parts[0], "[]")
	if len(parts) == 1 {
		delete(m, name)
		return
	}
	if !arr {
		hidePath(m[name], parts[1:])
		return
	}
	items, _ := m[name].([]any)
	for _, it := range items {
		hidePath(it, parts[1:])
	}
}

func carryPath(dst, src any, parts []string) {
	dm, ok := dst.(map[string]any)
	sm, ok2 := src.(map[string]any)
	if !ok || !ok2 {
		return
	}
	name, arr := strings.CutSuffix(parts[0], "[]")
	if len(parts) == 1 {
		if _, set := dm[name]; !set {
			if v, had := sm[name]; had {
				dm[name] = v
			}
		}
		return
	}
	if !arr {
		carryPath(dm[name], sm[name], parts[1:])
		return
	}
	da, _ := dm[name].([]any)
	sa, _ := sm[name].([]any)
	for i := range min(len(da), len(sa)) {
		carryPath(da[i], sa[i], parts[1:])
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
