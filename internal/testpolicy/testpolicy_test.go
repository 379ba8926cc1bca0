package testpolicy

import "testing"

// TestCompile compiles a small policy and checks that the program
// decides by its input: the helper hands back the compiled program, not
// a stand-in.
func TestCompile(t *testing.T) {
	const src = `policy t version "1"
input {
  amount float
}
rule big
  when amount > 500
  emit review reason "big"
`
	prog, ir := CompileIR(t, "t.risk", src)
	if prog == nil || ir == nil {
		t.Fatal("CompileIR returned nil")
	}
	if got := Compile(t, "t.risk", src); got.Name != prog.Name {
		t.Fatalf("Compile gave policy %q, CompileIR %q", got.Name, prog.Name)
	}
}
