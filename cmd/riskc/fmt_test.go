package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	fmtMessy = "policy  p version \"1\"\nlet a=1   # one\nrule r when a>1 emit reject reason \"x\"\n"
	fmtClean = "policy p version \"1\"\n\nlet a = 1 # one\n\nrule r\n  when a > 1\n  emit reject reason \"x\"\n"
	fmtBad   = "policy p\nlet a = = 1\n"
)

// fmtFiles writes the named files into a temporary directory and returns
// their paths by name.
func fmtFiles(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

func TestFmt(t *testing.T) {
	tests := []struct {
		name       string
		args       []string // "$messy", "$clean", "$bad" name the files
		code       int
		stdout     []string // substrings expected on stdout
		notStdout  []string
		stderr     []string
		wantMessy  string // content of messy.risk afterwards ("" = unchanged)
		exactStdot string
	}{
		{name: "stdout", args: []string{"$messy"}, code: 0, exactStdot: fmtClean},
		{name: "stdout clean", args: []string{"$clean"}, code: 0, exactStdot: fmtClean},
		{name: "list", args: []string{"-l", "$messy", "$clean"}, code: 0, stdout: []string{"messy.risk\n"}, notStdout: []string{"clean.risk", "policy"}},
		{name: "write", args: []string{"-w", "$messy", "$clean"}, code: 0, wantMessy: fmtClean, notStdout: []string{"policy"}},
		{name: "list and write", args: []string{"-l", "-w", "$messy"}, code: 0, stdout: []string{"messy.risk\n"}, wantMessy: fmtClean},
		{name: "diff", args: []string{"-d", "$messy", "$clean"}, code: 0, stdout: []string{"--- ", "+++ ", "@@ -1,3 +1,7 @@\n", "-let a=1   # one\n", "+let a = 1 # one\n"}, notStdout: []string{"clean.risk.orig"}},
		{name: "syntax error", args: []string{"-w", "$bad", "$messy"}, code: 1, stderr: []string{"bad.risk:2:9: error: syntax error"}, wantMessy: fmtClean},
		{name: "missing file", args: []string{"$dir/nope.risk"}, code: 1, stderr: []string{"nope.risk"}},
		{name: "directory", args: []string{"-l", "$dir"}, code: 1, stdout: []string{"messy.risk\n"}, stderr: []string{"bad.risk:2:9"}},
		{name: "write after the file", args: []string{"$messy", "-w"}, code: 0, wantMessy: fmtClean, notStdout: []string{"policy"}},
		{name: "check lists and fails", args: []string{"--check", "$messy", "$clean"}, code: 1, stdout: []string{"messy.risk\n"}, notStdout: []string{"clean.risk", "policy"}},
		{name: "check clean", args: []string{"$clean", "--check"}, code: 0, notStdout: []string{"clean.risk", "policy"}},
		{name: "check with diff", args: []string{"--check", "-d", "$messy"}, code: 1, stdout: []string{"messy.risk\n", "+let a = 1 # one\n"}},
		{name: "check and write", args: []string{"--check", "-w", "$messy"}, code: 2, stderr: []string{"--check writes nothing"}},
		{name: "empty directory", args: []string{"$dir/sub"}, code: 1, stderr: []string{"sub: no .risk files in this directory or below"}},
		{name: "no files", args: nil, code: 2, stderr: []string{"no files given", "Usage: riskc fmt"}},
		{name: "bad flag", args: []string{"-x", "$messy"}, code: 2, stderr: []string{"-x"}},
		{name: "help", args: []string{"--help"}, code: 0, stdout: []string{"Usage: riskc fmt", "-w\t", "-l\t", "-d\t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths := fmtFiles(t, map[string]string{"messy.risk": fmtMessy, "clean.risk": fmtClean, "bad.risk": fmtBad})
			args := []string{"fmt"}
			for _, a := range tt.args {
				if a == "$dir/sub" { // an empty directory
					if err := os.Mkdir(filepath.Join(filepath.Dir(paths["messy.risk"]), "sub"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				a = strings.NewReplacer("$dir", filepath.Dir(paths["messy.risk"])).Replace(a)
				if p, ok := paths[strings.TrimPrefix(a, "$")+".risk"]; ok && strings.HasPrefix(a, "$") {
					a = p
				}
				args = append(args, a)
			}
			out := runExpect(t, args, tt.code, tt.stdout, tt.stderr)
			checkContains(t, "stdout", out, nil, tt.notStdout)
			if tt.exactStdot != "" && out != tt.exactStdot {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.exactStdot)
			}
			want := tt.wantMessy
			if want == "" {
				want = fmtMessy
			}
			if got := readString(t, paths["messy.risk"]); got != want {
				t.Errorf("messy.risk afterwards:\n%s\nwant:\n%s", got, want)
			}
			for _, name := range []string{"clean.risk", "bad.risk"} {
				if got, orig := readString(t, paths[name]), map[string]string{"clean.risk": fmtClean, "bad.risk": fmtBad}[name]; got != orig {
					t.Errorf("%s was modified:\n%s", name, got)
				}
			}
		})
	}
}

// TestFmtWriteKeepsModeAndLeavesNoTemp checks -w's atomic replacement.
func TestFmtWriteKeepsModeAndLeavesNoTemp(t *testing.T) {
	paths := fmtFiles(t, map[string]string{"messy.risk": fmtMessy})
	p := paths["messy.risk"]
	if err := os.Chmod(p, 0o604); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runMain([]string{"fmt", "-w", p}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o604 {
		t.Errorf("mode %v, want 0604", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after -w, want 1 (temp file left?)", len(entries))
	}
	if got := readString(t, p); got != fmtClean {
		t.Errorf("rewritten file:\n%s", got)
	}
}

// checkContains checks that got, the command's output named what, holds
// every string of want and none of notWant.
func checkContains(t *testing.T, what, got string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
	for _, w := range notWant {
		if strings.Contains(got, w) {
			t.Errorf("%s contains %q:\n%s", what, w, got)
		}
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWriteUnifiedDiff checks hunk splitting, ranges and the missing
// final newline marker.
func TestWriteUnifiedDiff(t *testing.T) {
	old := "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12"
	updated := "1\nTWO\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n"
	var b bytes.Buffer
	writeUnifiedDiff(&b, "f.risk", []byte(old), []byte(updated))
	want := "diff f.risk.orig f.risk\n--- f.risk.orig\n+++ f.risk\n" +
		"@@ -1,5 +1,5 @@\n 1\n-2\n+TWO\n 3\n 4\n 5\n" +
		"@@ -9,4 +9,5 @@\n 9\n 10\n 11\n-12\n\\ No newline at end of file\n+12\n+13\n"
	if b.String() != want {
		t.Errorf("diff:\n%s\nwant:\n%s", b.String(), want)
	}
}
