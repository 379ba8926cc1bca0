package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRiskcTestExamples: every example ships tests, they pass, and every
// rule of every example is fired by a case and left silent by another.
func TestRiskcTestExamples(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain([]string{"test", "--coverage", "../../examples/..."}, &out, &errb); code != exitOK {
		t.Fatalf("riskc test examples: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, policy := range []string{"loan/loan.risk", "loan_ml/loan_ml.risk", "payments/card_fraud.risk", "credit/credit.risk", "credit/credit_tuned.risk", "planted/planted.risk", "planted/start.risk"} {
		if !strings.Contains(out.String(), "examples/"+policy+")\n") {
			t.Errorf("no tests ran for %s:\n%s", policy, out.String())
		}
	}
	if strings.Contains(out.String(), "never fired") || strings.Contains(out.String(), "never silent") {
		t.Errorf("an example rule is not covered both ways:\n%s", out.String())
	}
}

func TestRiskcTest(t *testing.T) {
	const td = "../../policytest/testdata/"
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
		notStdout      []string
	}{
		{name: "failure", args: []string{"test", td + "tiny_test.yaml"}, code: 1,
			stdout:    []string{"--- FAIL: wrong on purpose (" + td + "tiny_test.yaml:20)\n    decision: got review, want approve\n", "    got: review, score 0.5000, fired: big\n", "FAIL " + td + "tiny_test.yaml: 6 cases, 1 failed"},
			notStdout: []string{"PASS"}},
		{name: "run filter, verbose", args: []string{"test", td + "tiny.risk", "--run", "^small", "-v"}, code: 0,
			stdout: []string{"--- PASS: small payment", "ok   " + td + "tiny_test.yaml: 1 cases, 0 failed"}, notStdout: []string{"big payment"}},
		{name: "coverage", args: []string{"test", "--coverage", "--run", "^big payment$", td + "tiny_test.yaml"}, code: 0,
			stdout: []string{"coverage " + td + "tiny.risk: 1 of 3 rules fired (33.3%)\n  never fired:  burst, never\n  never silent: big\n"}},
		{name: "junit", args: []string{"test", "--format", "junit", td + "tiny_test.yaml"}, code: 1,
			stdout: []string{`<?xml version="1.0" encoding="UTF-8"?>`, `<testsuite name="` + td + `tiny_test.yaml" tests="6" failures="1"`, `<failure message="decision: got review, want approve">`},
			stderr: []string{"FAIL " + td + "tiny_test.yaml"}},
		{name: "errors in a test file", args: []string{"test", td + "bad_test.yaml"}, code: 1,
			stderr: []string{td + `bad_test.yaml:7:16: error: unknown feature "amout" (did you mean "amount"?)`}},
		{name: "policy without tests", args: []string{"test", "../../examples/loan/../credit/credit.risk", td + "nope.risk"}, code: 1,
			stderr: []string{"nope.risk: no such file"}},
		{name: "bad format", args: []string{"test", "--format", "xml"}, code: 2, stderr: []string{"--format must be text or junit"}},
		{name: "bad regex", args: []string{"test", "--run", "("}, code: 2, stderr: []string{"--run: error parsing regexp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runExpect(t, tt.args, tt.code, tt.stdout, tt.stderr)
			checkContains(t, "stdout", out, nil, tt.notStdout)
		})
	}
}

// TestCheckChecksTestFiles: riskc check reports the errors of a policy's
// NAME_test.yaml at their place.
func TestCheckChecksTestFiles(t *testing.T) {
	dir := t.TempDir()
	policy, _ := os.ReadFile("../../policytest/testdata/tiny.risk")
	os.WriteFile(filepath.Join(dir, "tiny.risk"), policy, 0o644)
	var out, errb bytes.Buffer
	if code := runMain([]string{"check", dir}, &out, &errb); code != exitOK {
		t.Fatalf("without tests: exit %d\n%s", code, errb.String())
	}
	os.WriteFile(filepath.Join(dir, "tiny_test.yaml"), []byte("cases:\n  - name: x\n    event: pay\n    features: {user: u, amount: 1, ts: 2026-01-01T00:00:00Z}\n    expect: {fired: [bigg]}\n"), 0o644)
	code := runMain([]string{"check", dir}, &out, &errb)
	want := filepath.Join(dir, "tiny_test.yaml") + `:5:22: error: fired: unknown rule "bigg" (did you mean "big"?)`
	if code != exitError || !strings.Contains(errb.String(), want) {
		t.Errorf("exit %d, stderr:\n%s\nwant %s", code, errb.String(), want)
	}
}
