package riskforge

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/riskforge/riskforge/"

// allowed lists, for every package of the module, the project packages
// it may import (docs/ARCHITECTURE.md draws the same map). The core is
// one-way, lang → compiler → vm; rules, models and the windows plug in
// from the side; api is the wire format above vm; the server sits above
// them all; commands sit on top and nothing imports them.
var allowed = map[string][]string{
	// The core.
	"lang":     {},
	"vm":       {},
	"compiler": {"lang", "vm"},
	// The wire format: request decoding fills a vm.Request.
	"api": {"vm"},
	// Velocity windows and their stores.
	"windows":            {"vm"},
	"windows/redisstore": {"vm", "windows"},
	"state":              {"server/config", "vm", "windows", "windows/redisstore"},
	// Data, reports, training, evaluation.
	"dataset": {"api", "lang", "vm"},
	"report":  {},
	// replay is the one loop that evaluates rows in order: backtests,
	// training, model prefetching and traces all go through it.
	"replay":   {"vm", "windows"},
	"backtest": {"dataset", "replay", "report", "vm", "windows"},
	"models":   {"compiler", "replay", "vm", "windows"},
	"rules":    {"compiler", "dataset", "lang", "replay", "report", "vm", "windows"},
	// Editor-facing packages sit beside riskd and riskc: neither may
	// reach into server/ or cmd/.
	"lsp":        {"compiler", "lang", "vm"},
	"playground": {"api", "compiler", "lang", "vm", "windows"},
	// policytest runs cases through the VM; riskc plugs the models in.
	"policytest": {"api", "compiler", "lang", "vm", "windows"},
	// The audit trail and the SM crypto package sit below the server:
	// the server plugs the log in through its DecisionRecorder and
	// encodes records with the schema alone.
	"internal/gm":  {},
	"audit/schema": {},
	"audit":        {"audit/schema", "internal/gm"},
	// The decision server and its parts.
	"server/config":    {},
	"server/rollout":   {},
	"server/connwatch": {},
	"lookup":           {},
	"server":           {"api", "audit/schema", "compiler", "internal/gm", "lang", "lookup", "server/config", "server/connwatch", "server/rollout", "state", "vm"},
	// Data-stack adapters plug into the server from the side.
	"telemetry": {"server", "server/config", "vm"},
	"stream":    {"server", "server/config"},
	// Test and tool support.
	"internal/cli":       {},
	"internal/redistest": {},
	// The check-and-compile helper that tests of replay, backtest,
	// dataset, api and rules share; only test files import it.
	"internal/testpolicy": {"compiler", "vm"},
	// The -update flag and read-or-rewrite step of golden-file tests.
	"internal/golden": {},
	// The planted-rules generator feeds the training tests and
	// examples/gen; it imports nothing of the project.
	"internal/planted": {},
	// The mutation-testing driver reads gremlins' reports; it imports
	// nothing of the project, so it never changes what it measures.
	"internal/mutate": {},
	// Commands.
	"cmd/riskc": {"backtest", "compiler", "dataset", "internal/cli", "lang", "lsp", "models", "policytest", "replay", "report", "rules", "vm", "windows"},
	"cmd/riskd": {"api", "audit", "internal/cli", "internal/gm", "models", "playground", "server", "server/config", "stream", "telemetry", "vm"},
	// riskload reads riskd's config (server/config, which imports
	// nothing of the project) to give the echo riskd's GOMAXPROCS.
	"cmd/riskload": {"api", "compiler", "internal/redistest", "lookup", "server/config", "vm"},
	"examples/gen": {"internal/planted"},
	// This package: only deps_test.go.
	".": {},
}

// cgoAllowed may reach cgo (the ONNX Runtime binding): models owns it,
// and only the two commands that run models link it. Everything else,
// the server above all, builds and runs without a C toolchain.
var cgoAllowed = []string{"models", "cmd/riskc", "cmd/riskd"}

// cgoPackages are imports that need cgo.
var cgoPackages = []string{"C", "github.com/yalue/onnxruntime_go"}

// TestDeps guards the direction of dependencies for every package of the
// module: each imports only what allowed lists for it, a new package
// must be added to the list, no package reaches cgo outside cgoAllowed,
// the server does not import the audit trail, and the VM does no I/O.
func TestDeps(t *testing.T) {
	pkgs := modulePackages(t)
	imports := map[string][]string{} // project imports, module-relative
	external := map[string][]string{}
	for _, dir := range pkgs {
		p, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				imports[dir] = append(imports[dir], rel)
			} else {
				external[dir] = append(external[dir], imp)
			}
		}
		if len(p.CgoFiles) > 0 {
			external[dir] = append(external[dir], "C")
		}
		want, listed := allowed[dir]
		if !listed {
			t.Errorf("package %s is not in TestDeps' allowed map: add it with the project packages it may import (and to docs/ARCHITECTURE.md)", dir)
			continue
		}
		for _, g := range imports[dir] {
			if !slices.Contains(want, g) {
				t.Errorf("%s imports %s; allowed: %v", dir, g, want)
			}
		}
	}
	for dir := range allowed {
		if !slices.Contains(pkgs, dir) {
			t.Errorf("TestDeps lists %s, which is not a package any more", dir)
		}
	}

	// cgo, directly or through any project package.
	reaches := func(from string) (path []string) {
		seen := map[string]bool{}
		var walk func(p string, trail []string) []string
		walk = func(p string, trail []string) []string {
			if seen[p] {
				return nil
			}
			seen[p] = true
			trail = append(trail, p)
			for _, e := range external[p] {
				if slices.Contains(cgoPackages, e) {
					return append(trail, e)
				}
			}
			for _, q := range imports[p] {
				if r := walk(q, trail); r != nil {
					return r
				}
			}
			return nil
		}
		return walk(from, nil)
	}
	for _, dir := range pkgs {
		if slices.Contains(cgoAllowed, dir) || dir == "models" {
			continue
		}
		if path := reaches(dir); path != nil {
			t.Errorf("%s reaches cgo: %s; only %v may", dir, strings.Join(path, " → "), cgoAllowed)
		}
	}

	if slices.Contains(imports["server"], "audit") {
		t.Errorf("server imports audit: it records through its DecisionRecorder interface")
	}
	for _, imp := range external["vm"] {
		switch imp {
		case "os", "net", "net/http", "C", "io/fs", "os/exec", "encoding/json":
			t.Errorf("vm imports %s: the VM does no I/O and no cgo, and the wire format lives in api", imp)
		}
	}
}

// modulePackages lists the module's package directories (relative,
// "." for the root), skipping testdata, hidden and vendored trees.
func modulePackages(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "third_party" || name == "node_modules" || name == "bin") {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != "." {
			return filepath.SkipDir // another module
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(p.GoFiles)+len(p.CgoFiles)+len(p.TestGoFiles) > 0 {
			dirs = append(dirs, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return dirs
}
