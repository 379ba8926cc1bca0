package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/lang"
)

// TestTrainGermanCredit is the acceptance run: riskc train on the German
// credit example improves the hold-out AUC, writes a tuned policy that
// riskc check accepts and that is fmt-clean, and riskc eval on the written
// hold-out rows reproduces the after_hard figure exactly.
func TestTrainGermanCredit(t *testing.T) {
	dir := t.TempDir()
	tuned := filepath.Join(dir, "credit_tuned.risk")
	metrics := filepath.Join(dir, "metrics.json")
	holdout := filepath.Join(dir, "holdout.csv")
	page := filepath.Join(dir, "report.html")
	var out, errb bytes.Buffer
	args := []string{"train", "--policy", "../../examples/credit/credit.risk", "--data", "../../examples/credit/german_credit.csv",
		"--label", "Class", "--positive", "Bad", "--valid-frac", "0.3", "--seed", "1", "-o", tuned,
		"--metrics-json", metrics, "--report", page, "--holdout-out", holdout, "--baseline"}
	if code := runMain(args, &out, &errb); code != exitOK {
		t.Fatalf("train: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "→") || !strings.Contains(out.String(), "long_term.Duration:") {
		t.Errorf("no per-parameter diff in the output:\n%s", out.String())
	}
	var m struct {
		Before, AfterSoft, AfterHard, Baseline struct {
			Fit, Selection, Test map[string]any
		}
		Params map[string]struct{ Old, New float64 }
		Epochs []map[string]any
	}
	data, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON keys are snake_case; map them onto the struct by hand.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for key, dst := range map[string]any{"before": &m.Before, "after_soft": &m.AfterSoft, "after_hard": &m.AfterHard,
		"baseline_logreg": &m.Baseline, "params": &m.Params, "epochs": &m.Epochs} {
		if err := json.Unmarshal(raw[key], dst); err != nil {
			t.Fatalf("metrics %s: %v", key, err)
		}
	}
	for _, split := range []map[string]any{m.Before.Fit, m.Before.Selection, m.AfterSoft.Selection, m.AfterHard.Fit, m.AfterHard.Selection, m.AfterHard.Test, m.Baseline.Test} {
		for _, k := range []string{"auc", "ks", "logloss"} {
			if _, ok := split[k].(float64); !ok {
				t.Errorf("metrics: missing %s in %v", k, split)
			}
		}
	}
	before, after := m.Before.Test["auc"].(float64), m.AfterHard.Test["auc"].(float64)
	if after <= before {
		t.Errorf("hold-out AUC did not improve: %.4f → %.4f", before, after)
	}
	if len(m.Params) == 0 || len(m.Epochs) == 0 {
		t.Error("metrics: no params or epochs")
	}

	// riskc check accepts the tuned policy, and it is fmt-clean.
	out.Reset()
	errb.Reset()
	if code := runMain([]string{"check", tuned}, &out, &errb); code != exitOK {
		t.Fatalf("check: exit %d\n%s", code, errb.String())
	}
	src, err := os.ReadFile(tuned)
	if err != nil {
		t.Fatal(err)
	}
	f, err := lang.Parse(tuned, src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lang.Format(f), src) {
		t.Error("the tuned policy is not fmt-clean")
	}

	// riskc eval on the hold-out (test) rows reproduces after_hard.test.
	evalMetrics := filepath.Join(dir, "eval.json")
	out.Reset()
	errb.Reset()
	if code := runMain([]string{"eval", "--policy", tuned, "--data", holdout, "--label", "Class", "--positive", "Bad", "--metrics-json", evalMetrics}, &out, &errb); code != exitOK {
		t.Fatalf("eval: exit %d\n%s", code, errb.String())
	}
	var ev map[string]any
	data, err = os.ReadFile(evalMetrics)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	if got := ev["auc"].(float64); fmt.Sprintf("%.12f", got) != fmt.Sprintf("%.12f", after) {
		t.Errorf("riskc eval AUC %.12f, after_hard.test %.12f", got, after)
	}
	if _, err := os.Stat(page); err != nil {
		t.Error(err)
	}
}

// TestTrainUsageErrors: nonsensical options are usage errors (exit 2)
// naming what is wrong, before any data is read.
func TestTrainUsageErrors(t *testing.T) {
	base := []string{"train", "--policy", "../../examples/credit/credit.risk", "--data", "../../examples/credit/german_credit.csv",
		"--label", "Class", "--positive", "Bad", "-o", filepath.Join(t.TempDir(), "x.risk")}
	for _, extra := range [][]string{
		{"--valid-frac", "1"}, {"--valid-frac", "0.5", "--test-frac", "0.5"}, {"--select", "f1"}, {"--min-support", "0.6"},
		{"--max-shift", "-1"}, {"--suggest", "-2"}, {"--test", "t.csv", "--holdout-out", "h.csv"}, {"--suggest", "2", "--valid-frac", "0"}, {"--max-review-rate", "2"}, {"--epochs", "0"}, {"--batch", "0"},
		{"--lr", "-1"}, {"--l2", "-0.5"}, {"--pos-weight", "0"},
	} {
		var out, errb bytes.Buffer
		if code := runMain(append(append([]string{}, base...), extra...), &out, &errb); code != exitUsage || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", extra, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := runMain([]string{"train", "--policy", "x.risk"}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "are required") {
		t.Errorf("missing flags: exit %d, %q", code, errb.String())
	}
}

// perfectPolicy writes a data set the policy as written already decides
// perfectly, with its weight and bias fixed: training cannot improve it.
func perfectPolicy(t *testing.T) (dir, policy, data string) {
	dir = t.TempDir()
	var b strings.Builder
	b.WriteString("x,bad\n")
	for i := 0; i < 500; i++ {
		x := (i * 37) % 100
		fmt.Fprintf(&b, "%d,%d\n", x, map[bool]int{true: 1}[x > 50])
	}
	b.WriteString("NA,0\n")
	data, policy = filepath.Join(dir, "d.csv"), filepath.Join(dir, "p.risk")
	src := "policy perfect version \"1\"\n\ninput {\n  x int\n}\n\nrule high\n  when x > 50\n  emit score fixed 2.2 reason \"high x\"\n\n" +
		"decide {\n  bias fixed -1.1\n  reject when score >= 0.9\n  otherwise approve\n}\n"
	for path, text := range map[string]string{data: b.String(), policy: src} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, policy, data
}

// TestTrainCannotImprove: train exits 1 and writes nothing when no epoch
// beats the policy as written; --force writes it. The NA row is skipped
// with a count (--na), or refused with --strict.
func TestTrainCannotImprove(t *testing.T) {
	dir, policy, data := perfectPolicy(t)
	tuned := filepath.Join(dir, "tuned.risk")
	args := []string{"train", "--policy", policy, "--data", data, "--label", "bad", "--na", "NA", "-q", "-o", tuned}
	var out, errb bytes.Buffer
	if code := runMain(args, &out, &errb); code != exitError {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "no epoch beats the policy as written") || !strings.Contains(errb.String(), "skipped 1 rows missing a required input (x 1)") {
		t.Errorf("output:\n%s%s", out.String(), errb.String())
	}
	if _, err := os.Stat(tuned); !os.IsNotExist(err) {
		t.Errorf("the tuned policy was written: %v", err)
	}
	out.Reset()
	if code := runMain(append(args, "--force"), &out, &errb); code != exitOK {
		t.Fatalf("--force: exit %d\n%s", code, errb.String())
	}
	if _, err := os.Stat(tuned); err != nil {
		t.Errorf("--force did not write: %v", err)
	}
	errb.Reset()
	if code := runMain(append(args, "--strict"), &out, &errb); code != exitError || !strings.Contains(errb.String(), "d.csv:502: required input x is missing") {
		t.Errorf("--strict: exit %d, %q", code, errb.String())
	}
	// riskc eval reads --na and --strict the same way.
	errb.Reset()
	out.Reset()
	if code := runMain([]string{"eval", "--policy", policy, "--data", data, "--label", "bad", "--na", "NA"}, &out, &errb); code != exitOK ||
		!strings.Contains(errb.String(), "skipped 1 rows") || !strings.Contains(out.String(), "rows       500") {
		t.Errorf("eval --na: exit %d\n%s%s", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := runMain([]string{"eval", "--policy", policy, "--data", data, "--label", "bad", "--na", "NA", "--strict"}, &out, &errb); code != exitError {
		t.Errorf("eval --strict: exit %d, %q", code, errb.String())
	}
}

// TestTrainTestFile: --test FILE rows are the test role (reported only),
// and riskc eval on that file reproduces the test figures.
func TestTrainTestFile(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("../../examples/credit/german_credit.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(raw), "\n"), "\n")
	data, test := filepath.Join(dir, "data.csv"), filepath.Join(dir, "test.csv")
	if err := os.WriteFile(data, []byte(strings.Join(lines[:801], "")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(test, []byte(lines[0]+strings.Join(lines[801:], "")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(dir, "m.json")
	tuned := filepath.Join(dir, "tuned.risk")
	var out, errb bytes.Buffer
	args := []string{"train", "--policy", "../../examples/credit/credit.risk", "--data", data, "--test", test,
		"--label", "Class", "--positive", "Bad", "-q", "-o", tuned, "--metrics-json", metrics}
	if code := runMain(args, &out, &errb); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	var m struct {
		FitRows   int `json:"fit_rows"`
		SelRows   int `json:"selection_rows"`
		TestRows  int `json:"test_rows"`
		AfterHard struct {
			Test struct{ AUC float64 } `json:"test"`
		} `json:"after_hard"`
	}
	b, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.TestRows != 200 || m.SelRows != 160 || m.FitRows != 640 || !strings.Contains(out.String(), "test (hold-out) (200 rows)") {
		t.Errorf("rows fit %d selection %d test %d\n%s", m.FitRows, m.SelRows, m.TestRows, out.String())
	}
	out.Reset()
	if code := runMain([]string{"eval", "--policy", tuned, "--data", test, "--label", "Class", "--positive", "Bad"}, &out, &errb); code != exitOK {
		t.Fatalf("eval: exit %d %s", code, errb.String())
	}
	if want := fmt.Sprintf("auc        %.4f", m.AfterHard.Test.AUC); !strings.Contains(out.String(), want) {
		t.Errorf("eval on the test file:\n%s\nwant %q", out.String(), want)
	}
}
