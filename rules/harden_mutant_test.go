package rules

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/vm"
)

// hardenPolicy has one threshold of each kind (int, float, duration), two
// score weights (one written as an integer) and the decide bias.
const hardenPolicy = `policy p version "1"

input {
  count  int
  amount float
  ts     time
  opened time
}

rule many
  when count > 2
  emit score 1 reason "many"

rule big
  when amount >= 100.5
  emit score 0.5 reason "big"

rule young
  when ts - opened < 30d
  emit score 1 reason "young account"

decide {
  bias -2.0
  review when score >= 0.5
  otherwise approve
}
`

// hardenProblem compiles hardenPolicy into a Problem and a Graph whose
// feature scales are all scale (Harden reads nothing else of the graph).
func hardenProblem(t *testing.T, scale float64) (*Problem, *Graph) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.risk")
	if err := os.WriteFile(path, []byte(hardenPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	prog, ir := loadPolicy(t, path)
	p, err := NewProblem(prog, ir)
	if err != nil {
		t.Fatal(err)
	}
	gr := &Graph{scale: make([]float64, len(prog.Params))}
	for i := range gr.scale {
		gr.scale[i] = scale
	}
	return p, gr
}

// paramIndex finds a parameter by name.
func paramIndex(t *testing.T, p *Problem, name string) int {
	t.Helper()
	for i, prm := range p.Prog.Params {
		if prm.Name == name {
			return i
		}
	}
	t.Fatalf("no parameter %q in %+v", name, p.Prog.Params)
	return -1
}

// TestHardenTexts pins the literal Harden writes for each kind of
// parameter: an int threshold as a plain integer (never "4.0"), a float
// threshold on its feature's step, a duration in whole units, weights
// with two decimals or, when written as integers, without a point; an
// unmoved parameter keeps its source text and is not Moved.
func TestHardenTexts(t *testing.T) {
	p, gr := hardenProblem(t, 100)
	values := make([]float64, len(p.Prog.Params))
	for i, prm := range p.Prog.Params {
		values[i] = prm.Value
	}
	set := func(name string, v float64) { values[paramIndex(t, p, name)] = v }
	set("many.count", 4.4)
	set("big.amount", 123.456)
	set("young.ts", 20*86400+3*3600)
	set("many.weight", 1.234)
	set("big.weight", 0.5) // unchanged
	set("young.weight", 2)
	set("decide.bias", -1.456)
	gr.scale[paramIndex(t, p, "young.ts")] = 1e6  // a step of 1e4 s: whole days
	gr.scale[paramIndex(t, p, "big.amount")] = 10 // a step of 0.1
	got := p.Harden(gr, values)
	want := map[string]Hardened{
		"many.count":   {Value: 4, Text: "4", Moved: true},
		"big.amount":   {Value: 123.5, Text: "123.5", Moved: true},
		"young.ts":     {Value: 20 * 86400, Text: "20d", Moved: true},
		"many.weight":  {Value: 1.23, Text: "1.23", Moved: true},
		"big.weight":   {Value: 0.5, Text: "0.5"},
		"young.weight": {Value: 2, Text: "2", Moved: true},
		"decide.bias":  {Value: -1.46, Text: "-1.46", Moved: true},
	}
	for name, w := range want {
		if h := got[paramIndex(t, p, name)]; h != w {
			t.Errorf("%s: got %+v, want %+v", name, h, w)
		}
	}
	for i, prm := range p.Prog.Params {
		if prm.Kind == vm.Cutoff && got[i] != (Hardened{Value: prm.Value, Text: "0.5"}) {
			t.Errorf("cut-off %s: got %+v, want the source kept", prm.Name, got[i])
		}
	}
}

// TestSnapIntAtTolerance: a value exactly 1e-3 from an integer is not
// "within 1e-3" of it, so it rounds the way its comparison needs (x >=
// 0.001 is x >= 1 for integer x), while one just inside snaps.
func TestSnapIntAtTolerance(t *testing.T) {
	if got := snapInt(1e-3, compiler.OpGe); got != 1 {
		t.Errorf("snapInt(0.001, >=) = %v, want 1", got)
	}
	if got := snapInt(1e-3, compiler.OpGt); got != 0 {
		t.Errorf("snapInt(0.001, >) = %v, want 0", got)
	}
	if got := snapInt(0.0009, compiler.OpGe); got != 0 {
		t.Errorf("snapInt(0.0009, >=) = %v, want 0", got)
	}
	// Ceil(-0.5) is -0; the threshold written must be 0, not "-0".
	for _, op := range []compiler.Op{compiler.OpGe, compiler.OpLt} {
		if got := snapInt(-0.5, op); got != 0 || math.Signbit(got) {
			t.Errorf("snapInt(-0.5, %v) = %v (sign bit %v), want +0", op, got, math.Signbit(got))
		}
	}
}
