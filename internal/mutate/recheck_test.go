package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMutate: each mutator changes exactly the token at line:col the way
// Gremlins does; a position holding another token is an error (the
// source moved since the report).
func TestMutate(t *testing.T) {
	src := "package p\n\nfunc f(x, y int) bool {\n\tx++\n\treturn x-y <= -1 && x*y == 2\n}\n"
	cases := []struct {
		line, col int
		mutator   string
		want      string // the mutated line 5 (or 4)
	}{
		{5, 10, "ARITHMETIC_BASE", "\treturn x+y <= -1 && x*y == 2"},
		{5, 13, "CONDITIONALS_BOUNDARY", "\treturn x-y < -1 && x*y == 2"},
		{5, 13, "CONDITIONALS_NEGATION", "\treturn x-y > -1 && x*y == 2"},
		{5, 16, "INVERT_NEGATIVES", "\treturn x-y <= +1 && x*y == 2"},
		{5, 16, "ARITHMETIC_BASE", "\treturn x-y <= +1 && x*y == 2"},
		{5, 23, "ARITHMETIC_BASE", "\treturn x-y <= -1 && x/y == 2"},
		{5, 26, "CONDITIONALS_NEGATION", "\treturn x-y <= -1 && x*y != 2"},
		{4, 3, "INCREMENT_DECREMENT", "\tx--"},
	}
	for _, c := range cases {
		out, err := mutate([]byte(src), c.line, c.col, c.mutator)
		if err != nil {
			t.Errorf("%d:%d %s: %v", c.line, c.col, c.mutator, err)
			continue
		}
		if got := strings.Split(string(out), "\n")[c.line-1]; got != c.want {
			t.Errorf("%d:%d %s: got %q, want %q", c.line, c.col, c.mutator, got, c.want)
		}
	}
	for _, bad := range []struct {
		line, col int
		mutator   string
	}{{5, 11, "ARITHMETIC_BASE"}, {5, 13, "ARITHMETIC_BASE"}, {5, 10, "CONDITIONALS_BOUNDARY"}, {9, 1, "ARITHMETIC_BASE"}, {5, 10, "INVERT_LOGICAL"}} {
		if _, err := mutate([]byte(src), bad.line, bad.col, bad.mutator); err == nil {
			t.Errorf("%d:%d %s applied", bad.line, bad.col, bad.mutator)
		}
	}
}

// TestConstLines: the lines of constant declarations, single or grouped,
// at package level or in a function, and nothing else.
func TestConstLines(t *testing.T) {
	src := "package p\n\nconst a = 1 + 2\n\nconst (\n\tb = iota + 1\n\tc\n)\n\nvar d = 3 - 1\n\nfunc f() int {\n\tconst e = -1\n\treturn e * 2\n}\n"
	p := writeFile(t, src)
	got := constLines(p)
	for _, l := range []int{3, 5, 6, 7, 8, 13} {
		if !got[l] {
			t.Errorf("line %d not in a constant declaration", l)
		}
	}
	for _, l := range []int{1, 2, 4, 9, 10, 12, 14} {
		if got[l] {
			t.Errorf("line %d taken for a constant declaration", l)
		}
	}
}

// TestRunMutantNotViable: a survivor whose mutation does not compile (a
// NOT COVERED + between strings made -, which Gremlins never builds) is
// NOT VIABLE, as a full run reports it once tests reach it; a mutant
// that builds and that no test fails LIVED.
func TestRunMutantNotViable(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tg := target{pkg: "testdata/mod/pkg"}
	rel := filepath.Join(tg.pkg, "a.go")
	for _, c := range []struct{ src, want string }{
		{"package pkg\n\nfunc A(x int) bool { return \"a\" - \"b\" == \"\" }\n", "NOT VIABLE"},
		{"package pkg\n\nfunc A(x int) bool { return x != 0 }\n", "LIVED"},
	} {
		got, err := runMutant(root, rel, []byte(c.src), t.TempDir(), tg, "", time.Minute)
		if err != nil || got != c.want {
			t.Errorf("%q: %s, %v; want %s", c.src, got, err, c.want)
		}
	}
}
