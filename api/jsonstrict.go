package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// maxJSONDepth bounds how deeply a request body may nest arrays and
// objects: the documents of the API nest a few levels, and a body nested
// thousands deep costs the decoder, the schema walk and every later reader
// of the stored document a stack frame per level.
const maxJSONDepth = 32

// strictJSON refuses what encoding/json lets through silently: an object
// with the same key twice (the decoder keeps the last, so a validator and
// a later reader could each see a different value) and nesting deeper
// than maxJSONDepth. The error names the path of the offending value.
func strictJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj     bool
		keys    map[string]bool
		path    string
		wantKey bool
		idx     int
	}
	var stack []*frame
	pathOf := func() string {
		if len(stack) == 0 {
			return "body"
		}
		return stack[len(stack)-1].path
	}
	// childPath is the path of the value about to be read in the top frame.
	var key string
	childPath := func() string {
		if len(stack) == 0 {
			return ""
		}
		f := stack[len(stack)-1]
		if f.obj {
			if f.path == "" {
				return key
			}
			return f.path + "." + key
		}
		return f.path + "[]"
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not JSON: decodeJSON says so with its own message
		}
		if len(stack) > 0 {
			f := stack[len(stack)-1]
			if f.obj && f.wantKey {
				if d, ok := tok.(json.Delim); ok && d == '}' {
					stack = stack[:len(stack)-1]
					if len(stack) > 0 && stack[len(stack)-1].obj {
						stack[len(stack)-1].wantKey = true
					}
					continue
				}
				k, _ := tok.(string)
				if f.keys[k] {
					p := k
					if f.path != "" {
						p = f.path + "." + k
					}
					return ferr(p, "appears twice in one object")
				}
				f.keys[k] = true
				key = k
				f.wantKey = false
				continue
			}
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				p := strings.TrimSuffix(childPath(), ".")
				if p == "" {
					p = pathOf()
				}
				return ferr(p, "nested too deep: at most %d levels of arrays and objects", maxJSONDepth)
			}
			stack = append(stack, &frame{obj: d == '{', keys: map[string]bool{}, path: childPath(), wantKey: d == '{'})
			continue
		case '}', ']':
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object wants its next key.
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
}
