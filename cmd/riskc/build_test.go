package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/vm"
)

const tinyPolicy = `policy tiny version "1.0"

input {
  device string
  amount float
}

list blocked = file "blocked.txt"

rule big_amount
  when amount > 100
  emit score 1.5 reason "big amount"

rule bad_device
  when device in blocked
  emit reject reason "device is blocked"

decide {
  bias -1
  reject when score >= 0.9
  otherwise approve
}
`

// buildFixture writes a policy with its list file and a built artifact of
// it, a corrupted and a truncated copy, and a policy with an error.
func buildFixture(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tiny.risk", []byte(tinyPolicy))
	write("blocked.txt", []byte("dev-1\ndev-2\n"))
	write("broken.risk", []byte(strings.Replace(tinyPolicy, "amount > 100", "amount > \"x\"", 1)))
	write("notes.rbc", []byte("not an artifact\n"))
	var out, errb bytes.Buffer
	if code := runMain([]string{"build", "-o", filepath.Join(dir, "good.rbc"), filepath.Join(dir, "tiny.risk")}, &out, &errb); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, errb.String())
	}
	good, err := os.ReadFile(filepath.Join(dir, "good.rbc"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0x40
	write("corrupt.rbc", bad)
	write("short.rbc", good[:len(good)-40])
	future := bytes.Clone(good)
	future[4] = 7
	write("future.rbc", future)
	return dir
}

func TestBuildAndDisasm(t *testing.T) {
	dir := buildFixture(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings expected on stdout
		stderr     []string // and on stderr
		noStdout   bool
		wantOutput string // a file the command must have written
		noOutput   string // a file it must not have written
	}{
		{name: "build with -o", args: []string{"build", "-o", p("x.rbc"), p("tiny.risk")}, code: 0,
			stderr:     []string{"built " + p("x.rbc") + ": policy tiny 1.0, 2 rules, 4 params, ", " bytes\n"},
			noStdout:   true,
			wantOutput: "x.rbc"},
		{name: "build default output", args: []string{"build", p("tiny.risk")}, code: 0,
			stderr: []string{"built " + p("tiny.rbc") + ": policy tiny"}, wantOutput: "tiny.rbc"},
		{name: "disasm artifact", args: []string{"disasm", p("good.rbc")}, code: 0,
			stdout: []string{`policy tiny version "1.0"`, "source " + p("tiny.risk"), "; 11: when amount > 100",
				"; 15: when device in blocked", "rule        0 (big_amount)", "param       0 (big_amount.amount = 100)",
				"instr       0 (blocked)", "fire", "halt", "blocked          2 entries from blocked.txt"}},
		{name: "disasm source", args: []string{"disasm", p("tiny.risk")}, code: 0,
			stdout: []string{"; 11: when amount > 100", "gt"}},
		{name: "build policy with errors", args: []string{"build", p("broken.risk")}, code: 1,
			stderr: []string{p("broken.risk") + ":11:"}, noOutput: "broken.rbc"},
		{name: "disasm policy with errors", args: []string{"disasm", p("broken.risk")}, code: 1,
			stderr: []string{p("broken.risk") + ":11:"}, noStdout: true},
		{name: "corrupted artifact", args: []string{"disasm", p("corrupt.rbc")}, code: 1, noStdout: true,
			stderr: []string{"riskc: " + p("corrupt.rbc") + ": artifact: checksum mismatch (file is corrupted)\n"}},
		{name: "truncated artifact", args: []string{"disasm", p("short.rbc")}, code: 1,
			stderr: []string{"riskc: " + p("short.rbc") + ": artifact: truncated ("}},
		{name: "future artifact", args: []string{"disasm", p("future.rbc")}, code: 1,
			stderr: []string{"artifact: format version 7 is not supported (this build reads version 3)"}},
		{name: "not an artifact", args: []string{"disasm", p("notes.rbc")}, code: 1,
			stderr: []string{"artifact: bad magic (not a Riskforge artifact)"}},
		{name: "missing file", args: []string{"build", p("nope.risk")}, code: 1, stderr: []string{"no such file"}},
		{name: "disasm missing file", args: []string{"disasm", p("nope.rbc")}, code: 1, stderr: []string{"no such file"}},
		{name: "build an artifact", args: []string{"build", p("good.rbc")}, code: 2,
			stderr: []string{"is a compiled artifact; build takes policy source"}},
		{name: "build without file", args: []string{"build"}, code: 2, stderr: []string{"Usage: riskc build"}},
		{name: "build two files", args: []string{"build", p("tiny.risk"), p("broken.risk"), "-o", p("y.rbc")}, code: 2,
			stderr: []string{"unexpected arguments after"}, noOutput: "y.rbc"},
		{name: "build flag after the file", args: []string{"build", p("tiny.risk"), "-o", p("after.rbc")}, code: 0,
			wantOutput: "after.rbc"},
		{name: "build long flag after the file", args: []string{"build", p("tiny.risk"), "--o=" + p("after2.rbc")}, code: 0,
			wantOutput: "after2.rbc"},
		{name: "build bad flag", args: []string{"build", "-x", p("tiny.risk")}, code: 2,
			stderr: []string{"riskc build: unknown flag -x (a file name starting with \"-\" goes after --, or write ./-x)\nRun 'riskc build --help' for its flags."}},
		{name: "flag-looking file name is an error, not a path", args: []string{"check", p("tiny.risk"), "-q.risk"}, code: 2,
			stderr: []string{"riskc check: unknown flag -q.risk (a file name starting with \"-\" goes after --, or write ./-q.risk)"}},
		{name: "check a directory", args: []string{"check", dir, "-q"}, code: 1,
			stderr: []string{p("broken.risk") + ":11:"}},
		{name: "check a directory without policies", args: []string{"check", t.TempDir()}, code: 1,
			stderr: []string{"no .risk files in this directory or below"}},
		{name: "check flag after the file", args: []string{"check", p("tiny.risk"), "-q"}, code: 0},
		{name: "go-style long flag", args: []string{"check", "-no-files", p("tiny.risk")}, code: 0},
		{name: "file after -- may start with a dash", args: []string{"disasm", "--", "-nope.rbc"}, code: 1,
			stderr: []string{"-nope.rbc: no such file"}},
		{name: "unknown long flag after the file", args: []string{"disasm", p("good.rbc"), "--verbose"}, code: 2,
			stderr: []string{"riskc disasm: unknown flag --verbose"}, noStdout: true},
		{name: "disasm without file", args: []string{"disasm"}, code: 2, stderr: []string{"Usage: riskc disasm"}},
		{name: "build help", args: []string{"build", "--help"}, code: 0, stdout: []string{"Usage: riskc build [flags] FILE.risk", "-o FILE"}},
		{name: "disasm help", args: []string{"disasm", "-h"}, code: 0, stdout: []string{"Usage: riskc disasm"}},
		{name: "listed in usage", args: []string{"--help"}, code: 0, stdout: []string{"build ", "disasm "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := runExpect(t, tt.args, tt.code, tt.stdout, tt.stderr)
			if tt.noStdout && out != "" {
				t.Errorf("unexpected stdout:\n%s", out)
			}
			if tt.wantOutput != "" {
				data, err := os.ReadFile(p(tt.wantOutput))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := vm.Decode(data); err != nil {
					t.Errorf("%s does not load: %v", tt.wantOutput, err)
				}
			}
			if tt.noOutput != "" {
				if _, err := os.Stat(p(tt.noOutput)); err == nil {
					t.Errorf("%s was written", tt.noOutput)
				}
			}
		})
	}
	// Atomic writes leave no temporary files behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestDisasmSameForSourceAndArtifact checks that the listing of a built
// artifact is the listing of the source it was built from.
func TestDisasmSameForSourceAndArtifact(t *testing.T) {
	dir := buildFixture(t)
	var a, b, errb bytes.Buffer
	if code := runMain([]string{"disasm", filepath.Join(dir, "good.rbc")}, &a, &errb); code != 0 {
		t.Fatalf("disasm artifact: exit %d: %s", code, errb.String())
	}
	if code := runMain([]string{"disasm", filepath.Join(dir, "tiny.risk")}, &b, &errb); code != 0 {
		t.Fatalf("disasm source: exit %d: %s", code, errb.String())
	}
	if a.String() != b.String() {
		t.Errorf("listings differ:\n%s\n----\n%s", a.String(), b.String())
	}
}

// TestBuildReplacesArtifact rebuilds over an existing artifact.
func TestBuildReplacesArtifact(t *testing.T) {
	dir := buildFixture(t)
	src := filepath.Join(dir, "tiny.risk")
	out := filepath.Join(dir, "good.rbc")
	edited := strings.Replace(tinyPolicy, `version "1.0"`, `version "1.1"`, 1)
	if err := os.WriteFile(src, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, errb bytes.Buffer
	if code := runMain([]string{"build", "-o", out, src}, &stdout, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	prog, ir, code := loadProgram(out, &errb)
	if code != 0 || ir != nil || prog.Version != "1.1" {
		t.Fatalf("loadProgram: code %d, ir %v, program %v: %s", code, ir, prog, errb.String())
	}
	prog, ir, code = loadProgram(src, &errb)
	if code != 0 || ir == nil || prog.Version != "1.1" {
		t.Fatalf("loadProgram of source: code %d, program %v: %s", code, prog, errb.String())
	}
}

// TestBuildExamples builds every example policy that currently compiles.
func TestBuildExamples(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*/*.risk")
	for _, src := range examples {
		var out, errb bytes.Buffer
		if code := runMain([]string{"check", src}, &out, &errb); code != 0 {
			t.Logf("skipping %s: it does not check at the moment", src)
			continue
		}
		dst := filepath.Join(t.TempDir(), "p.rbc")
		if text, _ := os.ReadFile(src); bytes.Contains(text, []byte(`= onnx "`)) {
			// Its models are named relative to its folder, so the artifact
			// goes there (a dot file: riskd ignores it, should one serve
			// the folder meanwhile).
			dst = filepath.Join(filepath.Dir(src), ".buildtest.rbc")
			defer os.Remove(dst)
		}
		if code := runMain([]string{"build", "-o", dst, src}, &out, &errb); code != 0 {
			t.Errorf("build %s: exit %d\n%s", src, code, errb.String())
		}
		t.Log(strings.TrimSpace(errb.String()))
	}
}

// runExpect runs riskc with args and checks the exit code and the
// substrings expected on stdout and stderr; it returns stdout for the
// caller's further checks.
func runExpect(t *testing.T, args []string, code int, stdout, stderr []string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if got := runMain(args, &out, &errb); got != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, code, out.String(), errb.String())
	}
	checkContains(t, "stdout", out.String(), stdout, nil)
	checkContains(t, "stderr", errb.String(), stderr, nil)
	return out.String()
}

// TestBuildRefusesToStrandModels: an artifact in another folder would not
// find models named by relative path, so build refuses and says why.
func TestBuildRefusesToStrandModels(t *testing.T) {
	out := filepath.Join(t.TempDir(), "loan_ml.rbc")
	var stdout, errb bytes.Buffer
	code := runMain([]string{"build", "../../examples/loan_ml/loan_ml.risk", "-o", out}, &stdout, &errb)
	want := `riskc build: ../../examples/loan_ml/loan_ml.risk: model default_risk is read from "../models/loan_gbt.onnx", relative to the policy's folder; an artifact in ` + filepath.Dir(out) + ` would look for it there and not find it. Write the artifact into ../../examples/loan_ml (the default without -o), or declare the model by absolute path`
	if code != exitError || !strings.Contains(errb.String(), want) {
		t.Errorf("exit %d, stderr:\n%s\nwant %s", code, errb.String(), want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the artifact was written")
	}
}
