package main

import (
	"strings"
	"testing"
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
