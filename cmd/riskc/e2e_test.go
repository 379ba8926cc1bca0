package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// riskcBinary builds the real riskc once for the end-to-end tests.
func riskcBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "riskc")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	code           int
	stdout, stderr string
}

func runBinary(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "../.."
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "goroutine ") || strings.Contains(stderr.String(), "panic:") {
		t.Fatalf("riskc %v panicked:\n%s", args, stderr.String())
	}
	return result{code, stdout.String(), stderr.String()}
}

// TestEndToEnd drives the built binary the way a user does: check the
// examples, reject a broken policy with positions, build, disassemble,
// and backtest the loan example with every output.
func TestEndToEnd(t *testing.T) {
	bin := riskcBinary(t)
	examples, _ := filepath.Glob("../../examples/*/*.risk")
	args := []string{"check"}
	for _, e := range examples {
		args = append(args, strings.TrimPrefix(e, "../../"))
	}
	if r := runBinary(t, bin, args...); r.code != 0 {
		t.Fatalf("check examples: exit %d\n%s", r.code, r.stderr)
	}

	r := runBinary(t, bin, "check", "compiler/testdata/diag/names.risk")
	if r.code != 1 || !strings.Contains(r.stderr, `compiler/testdata/diag/names.risk:16:8: error: unknown name "overdue_3d" (did you mean "overdue_30d"?)`) {
		t.Fatalf("check broken policy: exit %d\n%s", r.code, r.stderr)
	}
	if r := runBinary(t, bin, "check"); r.code != 2 {
		t.Fatalf("check without files: exit %d", r.code)
	}

	dir := t.TempDir()
	rbc := filepath.Join(dir, "loan.rbc")
	if r := runBinary(t, bin, "build", "-o", rbc, "examples/loan/loan.risk"); r.code != 0 {
		t.Fatalf("build: exit %d\n%s", r.code, r.stderr)
	}
	if r := runBinary(t, bin, "disasm", rbc); r.code != 0 || !strings.Contains(r.stdout, "rule high_dti") || !strings.Contains(r.stdout, "high_dti.dti") {
		t.Fatalf("disasm: exit %d\n%s", r.code, r.stdout)
	}

	metrics, page, out := filepath.Join(dir, "m.json"), filepath.Join(dir, "r.html"), filepath.Join(dir, "d.jsonl")
	r = runBinary(t, bin, "eval", "--policy", rbc, "--data", "examples/loan/history.csv", "--label", "default",
		"--metrics-json", metrics, "--report", page, "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "auc ") || !strings.Contains(r.stdout, "rows/s") {
		t.Fatalf("eval: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var m map[string]any
	data, _ := os.ReadFile(metrics)
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"rows", "auc", "ks", "decisions", "rules"} {
		if _, ok := m[key]; !ok {
			t.Errorf("metrics JSON lacks %q", key)
		}
	}
	if m["rows"].(float64) != 10098 || m["auc"].(float64) < 0.6 {
		t.Errorf("rows %v auc %v", m["rows"], m["auc"])
	}
	html, _ := os.ReadFile(page)
	if !strings.Contains(string(html), "<svg") || strings.Contains(string(html), "<script src") {
		t.Error("report is not a self-contained page with plots")
	}
	if lines := strings.Count(readString(t, out), "\n"); lines != 10098 {
		t.Errorf("decisions file has %d lines, want 10098", lines)
	}

	r = runBinary(t, bin, "eval", "--policy", "examples/loan/loan.risk", "--data", "examples/loan/history.csv", "--label", "default", "--trace", "2")
	for _, want := range []string{"line 2: review (score 0.5000, label 1)", "fired recent_arrears", "; 98: when dti > 0.45", "param       3 (high_dti.dti = 0.45)"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("eval --trace: exit %d, output lacks %q:\n%s", r.code, want, r.stdout)
		}
	}

	r = runBinary(t, bin, "eval", "--policy", "examples/loan/loan.risk", "--data", "examples/loan/history.csv", "--label", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, `no label column "nope"`) {
		t.Fatalf("eval with a bad label: exit %d\n%s", r.code, r.stderr)
	}
}
