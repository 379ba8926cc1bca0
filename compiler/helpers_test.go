package compiler

import (
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// compileSource checks and compiles src, failing the test on an error
// from either stage.
func compileSource(t *testing.T, src string) *vm.Program {
	t.Helper()
	p, diags := CheckSource("t.risk", []byte(src), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, _, err := Compile(p, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// wantCheckErr checks src and fails the test unless its errors contain
// want, or, with want "", unless it has none (warnings do not count).
func wantCheckErr(t *testing.T, src, want string) {
	t.Helper()
	_, diags := CheckSource("t.risk", []byte(src), Options{})
	got := diags.Err()
	switch {
	case want == "" && got != nil:
		t.Fatalf("unexpected error: %v", got)
	case want != "" && (got == nil || !strings.Contains(got.Error(), want)):
		t.Fatalf("got %v, want %q", got, want)
	}
}
