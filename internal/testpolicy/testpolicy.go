// Package testpolicy turns policy source into a program for tests. The
// check-then-compile steps, failing the test on the first error, were
// written again in every package that replays or decodes requests; this
// is the one copy. Only test files import it.
package testpolicy

import (
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// Compile checks and compiles src, named name in diagnostics, and fails
// tb if either step reports an error.
func Compile(tb testing.TB, name, src string) *vm.Program {
	tb.Helper()
	prog, _ := CompileIR(tb, name, src)
	return prog
}

// CompileIR is Compile that also returns the compiler's IR, for tests
// that train or rewrite rules.
func CompileIR(tb testing.TB, name, src string) (*vm.Program, *compiler.IR) {
	tb.Helper()
	pol, diags := compiler.CheckSource(name, []byte(src), compiler.Options{})
	if diags.HasErrors() {
		tb.Fatalf("%s: %v", name, diags)
	}
	prog, ir, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return prog, ir
}
