package lang

import (
	"strings"
	"testing"
)

// TestNestingLimitEdge: exactly maxNesting levels of parentheses or of a
// prefix-operator run parse (and format back); one more is refused at
// the token that goes over.
func TestNestingLimitEdge(t *testing.T) {
	head := "policy p version \"1\"\ninput { a int }\nrule r when "
	tail := " emit review reason \"x\"\n"
	const msg = "expression nested more than 500 levels deep"
	shapes := map[string]func(n int) string{
		"parens": func(n int) string { return strings.Repeat("(", n) + "a > 1" + strings.Repeat(")", n) },
		"not":    func(n int) string { return strings.Repeat("not ", n) + "a > 1" },
		"minus":  func(n int) string { return strings.Repeat("- ", n) + "a > 1" },
	}
	for name, shape := range shapes {
		t.Run(name, func(t *testing.T) {
			src := head + shape(maxNesting) + tail
			f, err := Parse("edge.risk", []byte(src))
			if err != nil {
				t.Fatalf("%d levels: %v", maxNesting, err)
			}
			if _, err := Parse("edge.risk", Format(f)); err != nil {
				t.Fatalf("%d levels do not survive formatting: %v", maxNesting, err)
			}
			_, err = Parse("edge.risk", []byte(head+shape(maxNesting+1)+tail))
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Fatalf("%d levels: got %v, want %q", maxNesting+1, err, msg)
			}
		})
	}
	// Brackets count too (the grammar parses nested list literals; the
	// checker refuses them later).
	brackets := func(n int) string { return "a in " + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
	if _, err := Parse("b.risk", []byte(head+brackets(maxNesting+1)+tail)); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("%d brackets: %v", maxNesting+1, err)
	}
	if _, err := Parse("b.risk", []byte(head+brackets(maxNesting)+tail)); err != nil {
		t.Errorf("%d brackets: %v", maxNesting, err)
	}
	// Closing brackets lower the depth again: two runs of 300 are fine.
	two := strings.Repeat("(", 300) + "a > 1" + strings.Repeat(")", 300) + " and " + strings.Repeat("(", 300) + "a > 2" + strings.Repeat(")", 300)
	if _, err := Parse("two.risk", []byte(head+two+tail)); err != nil {
		t.Errorf("two runs of 300: %v", err)
	}
	// A comment or whitespace inside a run of prefix operators does not
	// break the run; any other token does.
	run := strings.Repeat("not ", 300) + "# c\n" + strings.Repeat("not ", 201) + "a > 1"
	if _, err := Parse("run.risk", []byte(head+run+tail)); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("501 nots split by a comment: %v", err)
	}
	broken := strings.Repeat("not ", 300) + "(" + strings.Repeat("not ", 300) + "a > 1)"
	if _, err := Parse("broken.risk", []byte(head+broken+tail)); err != nil {
		t.Errorf("two runs of 300 nots split by a parenthesis: %v", err)
	}
}
