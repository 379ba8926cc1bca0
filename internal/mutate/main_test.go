package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTargets(t *testing.T) {
	got, err := readTargets(writeFile(t, "# comment\n\nwindows 90 85\nrules 0 100 harden.go writeback.go\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].pkg != "windows" || got[0].minEfficacy != 90 || got[0].minCoverage != 85 || len(got[0].files) != 0 ||
		got[1].minEfficacy != 0 || got[1].minCoverage != 100 || strings.Join(got[1].files, ",") != "harden.go,writeback.go" {
		t.Fatalf("got %+v", got)
	}
	unmeasured, err := readTargets(writeFile(t, "vm - 85\n"))
	if err != nil || !math.IsNaN(unmeasured[0].minEfficacy) || unmeasured[0].minCoverage != 85 {
		t.Fatalf("unmeasured efficacy: %+v %v", unmeasured, err)
	}
	s := score{target: unmeasured[0], killed: 1, lived: 9}
	if !s.pass() {
		t.Error("an unmeasured efficacy minimum gated the run")
	}
	for _, bad := range []string{"windows 90\n", "windows x 90\n", "windows 90 100.5\n", "windows -1 90\n", "windows 90 --\n"} {
		if _, err := readTargets(writeFile(t, bad)); err == nil || !strings.Contains(err.Error(), ":1:") {
			t.Errorf("%q: got %v, want an error at line 1", bad, err)
		}
	}
}

func TestReadAllow(t *testing.T) {
	got, err := readAllow(writeFile(t, "# c\npkg/a.go CONDITIONALS_BOUNDARY \"x > 1\" the new event is always inside\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].file != "pkg/a.go" || got[0].mutator != "CONDITIONALS_BOUNDARY" || got[0].fragment != "x > 1" ||
		got[0].reason != "the new event is always inside" || got[0].line != 2 {
		t.Fatalf("got %+v", got[0])
	}
	for _, bad := range []string{"pkg/a.go X\n", "pkg/a.go X x > 1 reason\n", "pkg/a.go X \"x > 1\"\n", "pkg/a.go X \"x > 1\"   \n"} {
		if _, err := readAllow(writeFile(t, bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAllowMatches(t *testing.T) {
	a := &allowed{file: "pkg/a.go", mutator: "CONDITIONALS_BOUNDARY", fragment: "x < -1"}
	src := "\tif x > 1 || x < -1 {"
	cases := []struct {
		file, mutator string
		col           int
		want          bool
	}{
		{"pkg/a.go", "CONDITIONALS_BOUNDARY", 16, true}, // the <
		{"pkg/a.go", "CONDITIONALS_BOUNDARY", 14, true}, // first byte of the fragment
		{"pkg/a.go", "CONDITIONALS_BOUNDARY", 19, true}, // last byte
		{"pkg/a.go", "CONDITIONALS_BOUNDARY", 20, false},
		{"pkg/a.go", "CONDITIONALS_BOUNDARY", 13, false},
		{"pkg/a.go", "CONDITIONALS_BOUNDARY", 7, false}, // the > of x > 1
		{"pkg/a.go", "CONDITIONALS_NEGATION", 16, false},
		{"pkg/b.go", "CONDITIONALS_BOUNDARY", 16, false},
	}
	for _, c := range cases {
		if got := a.matches(c.file, c.mutator, src, c.col); got != c.want {
			t.Errorf("%s %s col %d: %v, want %v", c.file, c.mutator, c.col, got, c.want)
		}
	}
	// A fragment that occurs twice matches either occurrence.
	twice := &allowed{file: "f", mutator: "M", fragment: "a+b"}
	if !twice.matches("f", "M", "a+b == a+b", 9) || !twice.matches("f", "M", "a+b == a+b", 2) || twice.matches("f", "M", "a+b == a+b", 5) {
		t.Error("repeated fragment")
	}
	if (&allowed{file: "f", mutator: "M"}).matches("f", "M", "x", 1) {
		t.Error("an empty fragment matched")
	}
}

func TestExcludes(t *testing.T) {
	root := "testdata/mod"
	all, err := target{pkg: "pkg"}.excludes(root)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(all, " ") != `^sub/` {
		t.Errorf("every file: %v, want only the subdirectory excluded", all)
	}
	some, err := target{pkg: "pkg", files: []string{"b.go"}}.excludes(root)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(some, " ") != `^a\.go$ ^sub/` {
		t.Errorf("b.go only: %v", some)
	}
}

func TestTally(t *testing.T) {
	tg := target{pkg: "pkg", minEfficacy: 60, minCoverage: 80}
	mutants, err := readReport("testdata/mod/pkg.json", "testdata/mod", tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(mutants) != 7 || mutants[0].file != "pkg/a.go" || mutants[0].src != "\tif x > 1 || x < -1 {" || mutants[6].file != "pkg/b.go" {
		t.Fatalf("mutants %+v", mutants)
	}
	s := tally(tg, mutants, nil)
	// detected: 1 killed in a.go, 1 timed out, 1 killed in b.go; lived 2.
	if s.killed != 2 || s.timedOut != 1 || s.lived != 2 || s.notCovered != 1 || s.notViable != 1 || len(s.survivors) != 3 {
		t.Fatalf("tally %+v", s)
	}
	if e, c := s.efficacy(), s.coverage(); !near(e, 60) || !near(c, 100*5/6.0) || !s.pass() {
		t.Fatalf("efficacy %v coverage %v pass %v", e, c, s.pass())
	}
	allow := []*allowed{
		{file: "pkg/a.go", mutator: "CONDITIONALS_NEGATION", fragment: "x > 1"},
		{file: "pkg/a.go", mutator: "CONDITIONALS_NEGATION", fragment: "x == 0"},
		{file: "pkg/a.go", mutator: "ARITHMETIC_BASE", fragment: "nothing like it"},
	}
	s = tally(tg, mutants, allow)
	if s.allowedLived != 1 || s.allowedNotCovered != 1 || len(s.survivors) != 1 || s.survivors[0].col != 16 {
		t.Fatalf("with allow-list: %+v", s)
	}
	if e, c := s.efficacy(), s.coverage(); !near(e, 75) || !near(c, 100) {
		t.Fatalf("with allow-list: efficacy %v coverage %v", e, c)
	}
	if !allow[0].used || !allow[1].used || allow[2].used {
		t.Error("used flags")
	}
	for _, th := range []target{{minEfficacy: 75.1, minCoverage: 0}, {minEfficacy: 0, minCoverage: 100.1}} {
		s.target = th
		if s.pass() {
			t.Errorf("passes thresholds %+v", th)
		}
	}
	if (score{}).efficacy() != 100 || (score{}).coverage() != 100 {
		t.Error("no mutants should score 100")
	}
}

func TestSelectTargets(t *testing.T) {
	all := []target{{pkg: "windows"}, {pkg: "vm"}, {pkg: "rules"}}
	got, err := selectTargets(all, "./vm/,rules")
	if err != nil || len(got) != 2 || got[0].pkg != "vm" || got[1].pkg != "rules" {
		t.Fatalf("got %v %v", got, err)
	}
	if got, _ := selectTargets(all, ""); len(got) != 3 {
		t.Fatal("empty list should select every target")
	}
	if _, err := selectTargets(all, "vmm"); err == nil {
		t.Fatal("unknown package accepted")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTallyDryRun(t *testing.T) {
	mutants := []mutant{{status: "RUNNABLE"}, {status: "RUNNABLE"}, {status: "RUNNABLE"}, {status: "NOT COVERED", file: "f", mutator: "M", src: "x", col: 1}}
	s := tally(target{minEfficacy: 100, minCoverage: 75}, mutants, nil)
	if !s.dry() || !near(s.coverage(), 75) || !s.pass() {
		t.Fatalf("dry run: %+v coverage %v pass %v", s, s.coverage(), s.pass())
	}
	s.minCoverage = 76
	if s.pass() {
		t.Fatal("dry run passes below its coverage threshold")
	}
}

func TestCaseClausesCountedApart(t *testing.T) {
	mutants := []mutant{
		{status: "KILLED"}, {status: "KILLED"}, {status: "KILLED"},
		{status: "NOT COVERED", src: "\tcase x > 1:", file: "f", mutator: "M", col: 8, unrunnable: true},
		{status: "NOT COVERED", src: "\tif x > 1 {", file: "f", mutator: "M", col: 6},
		{status: "LIVED", src: "\tcase x > 1:", file: "f", mutator: "M", col: 8},
	}
	s := tally(target{}, mutants, nil)
	if s.unrunnable != 1 || len(s.unmeasured) != 1 || s.notCovered != 1 || s.lived != 1 || len(s.survivors) != 2 {
		t.Fatalf("%+v", s)
	}
	if !near(s.coverage(), 80) || !near(s.efficacy(), 75) {
		t.Fatalf("coverage %v efficacy %v", s.coverage(), s.efficacy())
	}
}

func TestOutName(t *testing.T) {
	for pkg, want := range map[string]string{"api": "api.json", "server/connwatch": "server_connwatch.json"} {
		if got := outName(pkg, ".json"); got != want {
			t.Errorf("outName(%q) = %q, want %q", pkg, got, want)
		}
	}
}
