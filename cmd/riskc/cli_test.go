package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIConventions: --version comes from the build, completion knows
// every subcommand and its flags.
func TestCLIConventions(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--version"}, []string{"riskc ", "\ncommit ", "\ngo          go1.", "\nonnxruntime 1.24."}},
		{[]string{"completion", "bash"}, []string{"# bash completion V2 for riskc"}},
		{[]string{"completion", "zsh"}, []string{"#compdef riskc"}},
		{[]string{"completion", "fish"}, []string{"complete -c riskc"}},
		{[]string{"__complete", ""}, []string{"build\t", "check\t", "eval\t", "fmt\t", "train\t"}},
		{[]string{"__complete", "check", "x.risk", "-"}, []string{"-q\tprint errors only", "--no-files\t"}},
		{[]string{"__complete", "eval", "--"}, []string{"--policy\tpolicy FILE (.risk or .rbc)\n", "--label\t"}},
		{[]string{"__complete", "fmt", "--c"}, []string{"--check\t"}},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := runMain(tt.args, &out, &errb); code != exitOK {
			t.Errorf("riskc %q: exit %d\n%s", tt.args, code, errb.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("riskc %q: stdout lacks %q:\n%s", tt.args, w, out.String())
			}
		}
	}
}

// TestEvalTraceHeaderLine: --trace 1 on a CSV file points at the header.
func TestEvalTraceHeaderLine(t *testing.T) {
	var out, errb bytes.Buffer
	code := runMain([]string{"eval", "--policy", "../../examples/loan/loan.risk", "--data", "../../examples/loan/history.csv", "--trace", "1"}, &out, &errb)
	want := "riskc eval: line 1 is the header row; the first data row is line 2 (--trace takes the line number an editor shows)\n"
	if code != exitError || errb.String() != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errb.String(), want)
	}
}

// TestEvalFlagsUntestedRules: eval names the rules the data never fires
// and those it fires on every row.
func TestEvalFlagsUntestedRules(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d.csv")
	os.WriteFile(data, []byte("event,user,amount,ts\npay,u1,5000,2026-03-01T10:00:00Z\npay,u2,2000,2026-03-01T10:01:00Z\n"), 0o644)
	var out, errb bytes.Buffer
	if code := runMain([]string{"eval", "--policy", "../../policytest/testdata/tiny.risk", "--data", data}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"\nnever fired (no row tests them): burst, never\n", "\nfired on every row (no row tests them silent): big\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}

// TestExampleDataExercisesEveryRule: each example's data fires every rule
// of its policy at least once and leaves it silent at least once.
func TestExampleDataExercisesEveryRule(t *testing.T) {
	for _, ex := range [][]string{
		{"loan/loan.risk", "loan/history.csv"},
		{"loan_ml/loan_ml.risk", "loan/history.csv"},
		{"loan_pipeline/loan_pipeline.risk", "loan/history.csv"},
		{"payments/card_fraud.risk", "payments/history.csv"},
		{"credit/credit.risk", "credit/german_credit.csv"},
		{"credit/credit_tuned.risk", "credit/german_credit.csv"},
		{"planted/planted.risk", "planted/history.csv"},
		{"planted/start.risk", "planted/history.csv"},
	} {
		var out, errb bytes.Buffer
		if code := runMain([]string{"eval", "--policy", "../../examples/" + ex[0], "--data", "../../examples/" + ex[1]}, &out, &errb); code != exitOK {
			t.Errorf("%s: exit %d\n%s", ex[0], code, errb.String())
			continue
		}
		if strings.Contains(out.String(), "never fired") || strings.Contains(out.String(), "fired on every row") {
			t.Errorf("%s on %s:\n%s", ex[0], ex[1], out.String())
		}
	}
}
