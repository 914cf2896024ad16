package layering

import (
	"bufio"
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// pkg is one package of the module as go/build sees it on this GOOS.
type pkg struct {
	rel     string   // path inside the module: "alarm/service"; "" for the root
	imports []string // of the package's own files, module paths made relative, others as they are
	tests   []string // of its _test.go files (internal and external)
	hasDoc  bool
}

// ours reports whether imp (as stored in pkg) is a package of the module.
func ours(imp string) bool { return strings.HasPrefix(imp, "./") }

// under reports whether rel is tree or inside it.
func under(rel, tree string) bool { return rel == tree || strings.HasPrefix(rel, tree+"/") }

func anyUnder(rel string, trees ...string) bool {
	return slices.ContainsFunc(trees, func(t string) bool { return under(rel, t) })
}

// loadModule finds every package below the module root.
func loadModule(t *testing.T) map[string]*pkg {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod := modulePath(t, filepath.Join(root, "go.mod"))
	rel := func(imp string) string {
		if imp == mod {
			return "./"
		}
		if strings.HasPrefix(imp, mod+"/") {
			return "./" + strings.TrimPrefix(imp, mod+"/")
		}
		return imp
	}
	pkgs := map[string]*pkg{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "node_modules") {
			return filepath.SkipDir
		}
		bp, err := build.Default.ImportDir(p, 0)
		if err != nil {
			if _, none := err.(*build.NoGoError); none {
				return nil
			}
			return fmt.Errorf("%s: %w", p, err)
		}
		r, _ := filepath.Rel(root, p)
		r = filepath.ToSlash(r)
		if r == "." {
			r = ""
		}
		q := &pkg{rel: r}
		for _, imp := range bp.Imports {
			q.imports = append(q.imports, rel(imp))
		}
		for _, imp := range append(append([]string(nil), bp.TestImports...), bp.XTestImports...) {
			q.tests = append(q.tests, rel(imp))
		}
		_, statErr := os.Stat(filepath.Join(p, "doc.go"))
		q.hasDoc = statErr == nil
		pkgs[r] = q
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages below %s", len(pkgs), root)
	}
	return pkgs
}

func modulePath(t *testing.T, gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(sc.Text(), "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// deps is the set of everything p depends on, through the module's own
// packages (outside packages are leaves here: bbolt is imported by store).
func deps(pkgs map[string]*pkg, p *pkg) map[string]bool {
	seen := map[string]bool{}
	var walk func(*pkg)
	walk = func(q *pkg) {
		for _, imp := range q.imports {
			if seen[imp] {
				continue
			}
			seen[imp] = true
			if ours(imp) {
				if d := pkgs[strings.TrimPrefix(imp, "./")]; d != nil {
					walk(d)
				}
			}
		}
	}
	walk(p)
	return seen
}

// The alarm service side: it may use the store; the rest of alarm may not.
var alarmService = []string{"alarm/service", "alarm/delivery"}

// Test helpers: imported by _test.go files only.
var testHelpers = []string{"internal/testkit", "internal/softphone", "alarm/alarmtest"}

// Top-level trees the rules know; Go code anywhere else fails the test.
var trees = []string{"cmd", "engine", "dsp", "alarm", "hal", "store", "api", "firmware", "internal"}

// rule is one layering rule: check returns the violations of one package.
type rule struct {
	name  string
	check func(pkgs map[string]*pkg, p *pkg) []string
}

// importsOf lists p's imports of ours that fall under any of trees.
func importsOf(p *pkg, trees ...string) []string {
	var out []string
	for _, imp := range p.imports {
		if ours(imp) && anyUnder(strings.TrimPrefix(imp, "./"), trees...) {
			out = append(out, "imports "+strings.TrimPrefix(imp, "./"))
		}
	}
	return out
}

// importsOursBut lists p's imports of ours outside its own tree and allowed.
func importsOursBut(p *pkg, own string, allowed ...string) []string {
	var out []string
	for _, imp := range p.imports {
		r := strings.TrimPrefix(imp, "./")
		if ours(imp) && !under(r, own) && !anyUnder(r, allowed...) {
			out = append(out, "imports "+r)
		}
	}
	return out
}

var rules = []rule{
	{"dsp and store import nothing of ours", func(_ map[string]*pkg, p *pkg) []string {
		for _, t := range []string{"dsp", "store"} {
			if under(p.rel, t) {
				return importsOursBut(p, t)
			}
		}
		return nil
	}},
	{"hal imports only dsp", func(_ map[string]*pkg, p *pkg) []string {
		if under(p.rel, "hal") {
			return importsOursBut(p, "hal", "dsp")
		}
		return nil
	}},
	{"engine never imports alarm, api, hal", func(_ map[string]*pkg, p *pkg) []string {
		if under(p.rel, "engine") {
			return importsOf(p, "alarm", "api", "hal", "cmd")
		}
		return nil
	}},
	{"alarm never imports engine, api, hal", func(_ map[string]*pkg, p *pkg) []string {
		if under(p.rel, "alarm") {
			return importsOf(p, "engine", "api", "hal", "cmd")
		}
		return nil
	}},
	{"the alarm kit and protocol packages never import store", func(_ map[string]*pkg, p *pkg) []string {
		if under(p.rel, "alarm") && !anyUnder(p.rel, alarmService...) {
			return importsOf(p, "store", "alarm/service", "alarm/delivery")
		}
		return nil
	}},
	{"protocol packages need no database (no bbolt among their dependencies)", func(pkgs map[string]*pkg, p *pkg) []string {
		if !under(p.rel, "alarm") || anyUnder(p.rel, alarmService...) {
			return nil
		}
		var out []string
		for d := range deps(pkgs, p) {
			if strings.HasPrefix(d, "go.etcd.io/bbolt") || d == "./store" {
				out = append(out, "depends on "+strings.TrimPrefix(d, "./"))
			}
		}
		return out
	}},
	{"firmware imports only store and hal", func(_ map[string]*pkg, p *pkg) []string {
		if under(p.rel, "firmware") {
			return importsOursBut(p, "firmware", "store", "hal")
		}
		return nil
	}},
	{"api imports only engine, alarm, store, hal, dsp", func(_ map[string]*pkg, p *pkg) []string {
		if under(p.rel, "api") {
			return importsOursBut(p, "api", "engine", "alarm", "store", "hal", "dsp")
		}
		return nil
	}},
	{"only cmd wires: nothing outside cmd imports cmd", func(_ map[string]*pkg, p *pkg) []string {
		if !under(p.rel, "cmd") {
			return importsOf(p, "cmd")
		}
		return nil
	}},
	{"only cmd wires: engine, alarm/service and hal meet only under cmd", func(pkgs map[string]*pkg, p *pkg) []string {
		if under(p.rel, "cmd") {
			return nil
		}
		var met []string
		for _, t := range []string{"engine", "alarm/service", "hal"} {
			if under(p.rel, t) || len(importsOf(p, t)) > 0 {
				met = append(met, t)
			}
		}
		if len(met) > 1 {
			return []string{"joins " + strings.Join(met, " and ")}
		}
		return nil
	}},
	{"test helpers are imported by _test.go files only", func(_ map[string]*pkg, p *pkg) []string {
		if slices.ContainsFunc(testHelpers, func(h string) bool { return under(p.rel, h) }) {
			return nil // a helper may build on another (softphone on testkit)
		}
		return importsOf(p, testHelpers...)
	}},
	{"internal/testkit imports only the standard library", func(_ map[string]*pkg, p *pkg) []string {
		if !under(p.rel, "internal/testkit") {
			return nil
		}
		var out []string
		for _, imp := range p.imports {
			if first, _, _ := strings.Cut(imp, "/"); ours(imp) || strings.Contains(first, ".") {
				out = append(out, "imports "+imp)
			}
		}
		return out
	}},
	{"every package has a doc.go", func(_ map[string]*pkg, p *pkg) []string {
		if !p.hasDoc {
			return []string{"has no doc.go saying what it owns, what it may import and its seams"}
		}
		return nil
	}},
	{"every top-level folder with Go code has rules here", func(_ map[string]*pkg, p *pkg) []string {
		top, _, _ := strings.Cut(p.rel, "/")
		if !slices.Contains(trees, top) {
			return []string{"is in " + path.Join(top) + ", which no layering rule covers"}
		}
		return nil
	}},
}

// TestLayering checks every rule on every package; a failure names the rule,
// the package and the import that breaks it.
func TestLayering(t *testing.T) {
	pkgs := loadModule(t)
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for _, n := range names {
				bad := r.check(pkgs, pkgs[n])
				sort.Strings(bad)
				for _, b := range bad {
					t.Errorf("rule %q: %s %s", r.name, displayName(n), b)
				}
			}
		})
	}
}

func displayName(rel string) string {
	if rel == "" {
		return "the module root"
	}
	return rel
}

// The rules catch what they claim: each fixture breaks exactly its rule.
func TestLayeringRulesFire(t *testing.T) {
	cases := []struct {
		rule string
		p    *pkg
		more map[string]*pkg
	}{
		{"dsp and store import nothing of ours", &pkg{rel: "store", imports: []string{"./dsp"}, hasDoc: true}, nil},
		{"hal imports only dsp", &pkg{rel: "hal", imports: []string{"./store"}, hasDoc: true}, nil},
		{"engine never imports alarm, api, hal", &pkg{rel: "engine/media", imports: []string{"./alarm"}, hasDoc: true}, nil},
		{"alarm never imports engine, api, hal", &pkg{rel: "alarm/contactid", imports: []string{"./api"}, hasDoc: true}, nil},
		{"the alarm kit and protocol packages never import store", &pkg{rel: "alarm/scaip", imports: []string{"./alarm/delivery"}, hasDoc: true}, nil},
		{"protocol packages need no database (no bbolt among their dependencies)", &pkg{rel: "alarm/tt92", imports: []string{"./alarm/x"}, hasDoc: true},
			map[string]*pkg{"alarm/x": {rel: "alarm/x", imports: []string{"go.etcd.io/bbolt"}}}},
		{"firmware imports only store and hal", &pkg{rel: "firmware", imports: []string{"./api"}, hasDoc: true}, nil},
		{"api imports only engine, alarm, store, hal, dsp", &pkg{rel: "api", imports: []string{"./firmware"}, hasDoc: true}, nil},
		{"only cmd wires: nothing outside cmd imports cmd", &pkg{rel: "internal/layering", imports: []string{"./cmd/edgebridge/internal/gateway"}, hasDoc: true}, nil},
		{"only cmd wires: engine, alarm/service and hal meet only under cmd", &pkg{rel: "api/console", imports: []string{"./hal", "./engine"}, hasDoc: true}, nil},
		{"test helpers are imported by _test.go files only", &pkg{rel: "engine", imports: []string{"./internal/testkit"}, hasDoc: true}, nil},
		{"internal/testkit imports only the standard library", &pkg{rel: "internal/testkit", imports: []string{"github.com/pion/rtp"}, hasDoc: true}, nil},
		{"every package has a doc.go", &pkg{rel: "dsp"}, nil},
		{"every top-level folder with Go code has rules here", &pkg{rel: "tools/gen", hasDoc: true}, nil},
	}
	if len(cases) != len(rules) {
		t.Fatalf("%d fixtures for %d rules: every rule needs one", len(cases), len(rules))
	}
	for _, tc := range cases {
		pkgs := map[string]*pkg{tc.p.rel: tc.p}
		for k, v := range tc.more {
			pkgs[k] = v
		}
		for _, r := range rules {
			bad := r.check(pkgs, tc.p)
			if fires := len(bad) > 0; fires != (r.name == tc.rule) {
				t.Errorf("fixture for %q: rule %q fired=%v (%v)", tc.rule, r.name, fires, bad)
			}
		}
	}
}

// The README's layout table names every package of the tree, and only
// those: its first column is checked against the packages found.
func TestReadmeLayoutMatchesTree(t *testing.T) {
	pkgs := loadModule(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README has no ## Layout section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	named := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		for _, f := range strings.Split(first, ",") {
			named[strings.Trim(strings.TrimSpace(f), "`")] = true
		}
	}
	for rel := range pkgs {
		if rel != "" && !named[rel] {
			t.Errorf("README layout table does not name the package %s", rel)
		}
	}
	for n := range named {
		if pkgs[n] == nil {
			t.Errorf("README layout table names %s, which is not a package of the tree", n)
		}
	}
}
