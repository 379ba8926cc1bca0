package cli

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

func testApp(ran *[]string) *App {
	run := func(args []string, stdout, stderr io.Writer) int {
		fs, f := newTestFlags(stderr)
		if code, ok := Parse(fs, args, stdout); !ok {
			return code
		}
		*ran = append(*ran, f.out+"|"+strings.Join(fs.Args(), ","))
		if f.quiet {
			return ExitError
		}
		return ExitOK
	}
	return &App{
		Name:     "tool",
		Short:    "a tool",
		Long:     "docs/TOOL.md",
		Commands: []Command{{Name: "cmd", Summary: "does things", Run: run}},
		Version:  func() string { return VersionInfo("tool", "extra line") },
	}
}

func TestApp(t *testing.T) {
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
		ran            string
	}{
		{name: "no arguments", args: nil, code: 2, stderr: []string{"Usage:\n  tool COMMAND", "cmd        does things"}},
		{name: "help", args: []string{"--help"}, code: 0, stdout: []string{"tool — a tool", "cmd        does things", "docs/TOOL.md", "completion"}},
		{name: "help command", args: []string{"help", "cmd"}, code: 0, stdout: []string{"Usage: tool cmd [flags] FILE..."}},
		{name: "subcommand help", args: []string{"cmd", "a", "--help"}, code: 0, stdout: []string{"Usage: tool cmd [flags] FILE..."}},
		{name: "run", args: []string{"cmd", "a.risk", "-o", "x"}, code: 0, ran: "x|a.risk"},
		{name: "exit code of the command", args: []string{"cmd", "-q"}, code: 1, ran: "|"},
		{name: "unknown command", args: []string{"cdm"}, code: 2, stderr: []string{`tool: unknown command "cdm" for "tool"`, "Did you mean this?\n\tcmd"}},
		{name: "version", args: []string{"--version"}, code: 0, stdout: []string{"tool ", "\ngo          " + runtime.Version(), "\nextra line\n"}},
		{name: "version with arguments", args: []string{"--version", "x"}, code: 2, stderr: []string{"--version takes no arguments"}},
		{name: "bash completion", args: []string{"completion", "bash"}, code: 0, stdout: []string{"# bash completion V2 for tool", "__complete"}},
		{name: "zsh completion", args: []string{"completion", "zsh"}, code: 0, stdout: []string{"#compdef tool"}},
		{name: "fish completion", args: []string{"completion", "fish"}, code: 0, stdout: []string{"complete -c tool"}},
		{name: "complete commands", args: []string{"__complete", "c"}, code: 0, stdout: []string{"cmd\tdoes things\n", "completion\t"}},
		{name: "complete flags", args: []string{"__complete", "cmd", "a.risk", "--"}, code: 0, stdout: []string{"--policy\tpolicy FILE\n", "--n-rows\trows\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran []string
			var stdout, stderr bytes.Buffer
			code := testApp(&ran).Run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if got := strings.Join(ran, ";"); got != tt.ran {
				t.Errorf("ran %q, want %q", got, tt.ran)
			}
		})
	}
}

func TestVersionInfoCommitFallback(t *testing.T) {
	Commit, CommitTime = "abc123", "2026-01-02T03:04:05Z"
	defer func() { Commit, CommitTime = "", "" }()
	// Test binaries carry no VCS stamp, so the linker-set value shows.
	if got := VersionInfo("tool"); !strings.Contains(got, "commit      abc123 (2026-01-02T03:04:05Z)\n") {
		t.Errorf("VersionInfo = %q", got)
	}
}
