package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCLIConventions: --version comes from the build, completion knows
// every subcommand and its flags, riskd's commands take no file names.
func TestCLIConventions(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{args: []string{"--version"}, stdout: []string{"riskd ", "\ncommit ", "\ngo          go1.", "\nonnxruntime 1.24."}},
		{args: []string{"completion", "bash"}, stdout: []string{"# bash completion V2 for riskd"}},
		{args: []string{"__complete", ""}, stdout: []string{"serve\t", "health\t"}},
		{args: []string{"__complete", "serve", "--p"}, stdout: []string{"--policy\t"}},
		{args: []string{"serve", "policies/"}, code: exitUsage, stderr: []string{"riskd: unexpected arguments: policies/"}},
		{args: []string{"health", "--endpoint"}, code: exitUsage, stderr: []string{"riskd health: flag needs an argument"}},
		{args: []string{"serve", "--help"}, stdout: []string{"Usage: riskd serve [flags]", "--policy path"}},
		{args: []string{"srve"}, code: exitUsage, stderr: []string{`unknown command "srve"`, "serve"}},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(tt.args, &out, &errb); code != tt.code {
			t.Errorf("riskd %q: exit %d, want %d\n%s", tt.args, code, tt.code, errb.String())
		}
		for _, w := range tt.stdout {
			if !strings.Contains(out.String(), w) {
				t.Errorf("riskd %q: stdout lacks %q:\n%s", tt.args, w, out.String())
			}
		}
		for _, w := range tt.stderr {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("riskd %q: stderr lacks %q:\n%s", tt.args, w, errb.String())
			}
		}
	}
}
