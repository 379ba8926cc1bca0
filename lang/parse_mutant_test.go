package lang

import (
	"strings"
	"testing"
)

// TestRecoverReportsTextBeforeFirstDeclaration: after a syntax error the
// parser re-parses declaration by declaration; text before the first
// declaration keyword is a chunk of its own, and its error is reported
// at its place, not dropped.
func TestRecoverReportsTextBeforeFirstDeclaration(t *testing.T) {
	src := "  junk here\npolicy p version \"1\"\ninput {\n  a int\n}\nrule r when a > emit review reason \"x\"\n"
	_, err := Parse("t.risk", []byte(src))
	if err == nil {
		t.Fatal("parsed")
	}
	for _, want := range []string{"t.risk:1:3", "t.risk:6:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors %q do not include one at %s", err, want)
		}
	}
	// A blank or comment-only prefix is not an error.
	for _, prefix := range []string{"\n\n", "# a comment\n"} {
		if _, err := Parse("t.risk", []byte(prefix+"policy p version \"1\"\ninput {\n  a int\n}\nrule r when a > 1 emit review reason \"x\"\n")); err != nil {
			t.Errorf("prefix %q: %v", prefix, err)
		}
	}
}
