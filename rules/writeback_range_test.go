package rules

import (
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
)

// TestWriteBackRefusesEmptyRange: tuning moves the two bounds of a
// between independently (the crossing penalty is soft, and snapping can
// cross bounds the trained values did not), so write-back can meet
// `between 12 and 10`. That range matches nothing; the write-back must
// refuse it rather than hand back a rule that never fires. Bounds that
// meet (`between 10 and 10`) are still a valid range.
func TestWriteBackRefusesEmptyRange(t *testing.T) {
	const path = "range.risk"
	src := []byte(`policy p version "1"

input {
  amount float
}

rule mid
  when amount between 1 and 10
  emit review reason "mid-sized amount"
`)
	pol, diags := compiler.CheckSource(path, src, compiler.Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, _, err := compiler.Compile(pol, compiler.CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.Params) != 2 {
		t.Fatalf("want the two bounds as parameters, got %+v", prog.Params)
	}
	run := func(lo, hi string, vlo, vhi float64) (*RunResult, error) {
		r := &RunResult{
			Outcome: &Outcome{Texts: []string{lo, hi}, Values: []float64{vlo, vhi}},
			opts:    RunOptions{PolicyPath: path, Source: src, Prog: prog},
		}
		return r, r.writeBack()
	}
	r, err := run("10", "10", 10, 10)
	if err != nil {
		t.Fatalf("between 10 and 10: %v", err)
	}
	if !strings.Contains(string(r.Tuned), "amount between 10 and 10") {
		t.Fatalf("tuned policy:\n%s", r.Tuned)
	}
	r, err = run("12", "10", 12, 10)
	if err == nil {
		t.Fatalf("between 12 and 10 was written back:\n%s", r.Tuned)
	}
	if !strings.Contains(err.Error(), "empty range: lower bound 12 is above upper bound 10") ||
		!strings.Contains(err.Error(), "range.risk:8:23") {
		t.Fatalf("error %q does not name the empty range at its lower bound", err)
	}
}
