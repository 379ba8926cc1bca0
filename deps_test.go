package riskforge

import (
	"go/build"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/riskforge/riskforge/"

// TestDeps guards the direction of dependencies: lang → compiler → vm,
// with rules and models plugging in from the side, and the VM free of I/O
// and cgo. Each package lists the project packages it may import.
func TestDeps(t *testing.T) {
	allowed := map[string][]string{
		"lang":               {},
		"vm":                 {},
		"compiler":           {"lang", "vm"},
		"windows":            {"vm"},
		"windows/redisstore": {"vm", "windows"},
		"state":              {"server/config", "vm", "windows", "windows/redisstore"},
		"dataset":            {"lang", "vm"},
		"report":             {},
		// replay is the one loop that evaluates rows in order: backtests,
		// training, model prefetching and traces all go through it.
		"replay":   {"vm", "windows"},
		"backtest": {"dataset", "replay", "report", "vm", "windows"},
		"models":   {"compiler", "replay", "vm", "windows"},
		"rules":    {"compiler", "dataset", "lang", "replay", "report", "vm", "windows"},
		// Editor-facing packages sit beside riskd and riskc: neither may
		// reach into server/ or cmd/.
		"lsp":        {"compiler", "lang", "vm"},
		"playground": {"compiler", "lang", "vm", "windows"},
		// policytest runs cases through the VM; riskc plugs the models in.
		"policytest":   {"compiler", "lang", "vm", "windows"},
		"internal/cli": {},
		// The audit trail and the SM crypto package sit below the server:
		// the server plugs the log in through its DecisionRecorder.
		"internal/gm": {},
		"audit":       {"internal/gm"},
		// The mutation-testing driver reads gremlins' reports; it imports
		// nothing of the project, so it never changes what it measures.
		"internal/mutate": {},
		// Data-stack adapters plug into the server from the side.
		"telemetry": {"server", "server/config", "vm"},
		"stream":    {"server", "server/config"},
		"lookup":    {},
	}
	for pkg, want := range allowed {
		p, err := build.ImportDir(pkg, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				got = append(got, strings.TrimPrefix(imp, module))
			}
		}
		sort.Strings(got)
		for _, g := range got {
			if !contains(want, g) {
				t.Errorf("%s imports %s; allowed: %v", pkg, g, want)
			}
		}
	}
	srv, _ := build.ImportDir("server", 0)
	for _, imp := range srv.Imports {
		if imp == module+"audit" {
			t.Errorf("server imports audit: it records through its DecisionRecorder interface")
		}
	}
	vm, _ := build.ImportDir("vm", 0)
	for _, imp := range vm.Imports {
		switch imp {
		case "os", "net", "net/http", "C", "io/fs", "os/exec":
			t.Errorf("vm imports %s: the VM does no I/O and no cgo", imp)
		}
	}
	if len(vm.CgoFiles) > 0 {
		t.Errorf("vm has cgo files %v", vm.CgoFiles)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
