package main

import (
	"strings"
	"testing"
)

// TestReadTargetsSkip: a skip= word sets the target's test skip pattern
// and is not taken for a scope file; a bad pattern, a second skip= or a
// word that is neither a non-test .go file nor skip= is an error.
func TestReadTargetsSkip(t *testing.T) {
	got, err := readTargets(writeFile(t, "server - 81 fastjson.go http.go skip=TestE2E|TestSlow run=TestFast\nvm 90 90 skip=TestBig\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].skip != "TestE2E|TestSlow" || got[0].run != "TestFast" || strings.Join(got[0].files, ",") != "fastjson.go,http.go" ||
		got[1].skip != "TestBig" || got[1].run != "" || len(got[1].files) != 0 {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"vm 90 90 skip=(\n", "vm 90 90 skip=\n", "vm 90 90 skip=A skip=B\n", "vm 90 90 run=A run=B\n", "vm 90 90 run=[\n", "vm 90 90 run.go_test.go\n",
		"vm 90 90 run_test.go\n", "vm 90 90 sub/run.go\n", "vm 90 90 run\n"} {
		if _, err := readTargets(writeFile(t, bad)); err == nil || !strings.Contains(err.Error(), ":1:") {
			t.Errorf("%q: got %v, want an error at line 1", bad, err)
		}
	}
}

// TestGoflags: gremlins' test runs get -count=1 (a cached coverage run
// would set every mutant's time limit to milliseconds) and the target's
// skip pattern, after the GOFLAGS already in effect.
func TestGoflags(t *testing.T) {
	if got := (target{pkg: "vm"}).goflags(""); got != "-count=1" {
		t.Errorf("no skip: %q", got)
	}
	if got := (target{pkg: "vm", skip: "TestA|TestB", run: "TestC"}).goflags(" -buildvcs=false  -mod=mod "); got != "-buildvcs=false -mod=mod -count=1 -skip=TestA|TestB -run=TestC" {
		t.Errorf("with skip: %q", got)
	}
}

// TestExcludesMissingFile: a scope file the package does not have is an
// error naming it, not a smaller scope.
func TestExcludesMissingFile(t *testing.T) {
	_, err := target{pkg: "pkg", files: []string{"b.go", "gone.go"}}.excludes("testdata/mod")
	if err == nil || !strings.Contains(err.Error(), "scope file pkg/gone.go does not exist") {
		t.Fatalf("got %v, want the missing scope file named", err)
	}
	// A test file or a file of a subdirectory is not a scope file either.
	for _, f := range []string{"a_test.go", "sub/c.go"} {
		if _, err := (target{pkg: "pkg", files: []string{f}}).excludes("testdata/mod"); err == nil {
			t.Errorf("%s accepted as a scope file", f)
		}
	}
	if _, err := (target{pkg: "nopkg"}).excludes("testdata/mod"); err == nil {
		t.Error("a missing package directory was accepted")
	}
}

// TestNarrow: -files keeps the named files of a target's scope and
// refuses files outside it.
func TestNarrow(t *testing.T) {
	all := []target{{pkg: "server", files: []string{"fastjson.go", "http.go"}}, {pkg: "vm"}, {pkg: "rules", files: []string{"harden.go"}}}
	got, err := narrowTargets(all, []string{"vm/verify.go", "server/http.go", "./vm/run.go"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].pkg != "server" || strings.Join(got[0].files, ",") != "http.go" ||
		got[1].pkg != "vm" || strings.Join(got[1].files, ",") != "verify.go,run.go" {
		t.Fatalf("got %+v", got)
	}
	if _, err := narrowTargets(all, []string{"rules/writeback.go"}); err == nil || !strings.Contains(err.Error(), "not in rules's scope") {
		t.Errorf("a file outside the scope: %v", err)
	}
	if _, err := narrowTargets(all, []string{"lang/parse.go"}); err == nil {
		t.Error("a file of no target was accepted")
	}
}

// TestNamesMutant: a build error in the mutated file is recognised in the
// forms go prints its path, one elsewhere is not.
func TestNamesMutant(t *testing.T) {
	mpath := "/tmp/mutate-recheck-2166287086/mutant.go"
	for out, want := range map[string]bool{
		"/tmp/mutate-recheck-2166287086/mutant.go:110:33: cannot use": true,
		".ate-recheck-2166287086/mutant.go:110:33: cannot use":        true,
		"windows/sketch.go:12:3: undefined: x":                        false,
		"/tmp/mutate-recheck-999/mutant.go:1:1: x":                    false,
	} {
		if got := namesMutant(out, mpath); got != want {
			t.Errorf("namesMutant(%q) = %v, want %v", out, got, want)
		}
	}
}
