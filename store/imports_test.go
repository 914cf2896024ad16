package store

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// store sits at the bottom of the dependency graph (DESIGN.md): it may import
// bbolt and the standard library, nothing of edgebridge.
func TestStoreImportsNothingOfOurs(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if strings.HasPrefix(strings.Trim(imp.Path.Value, `"`), "github.com/edgebridge/") {
				t.Errorf("%s imports %s", f, imp.Path.Value)
			}
		}
	}
}
