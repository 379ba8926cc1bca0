package rules

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/compiler"
	"github.com/riskforge/riskforge/internal/golden"
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// TestRewriteGolden rewrites every parameter of the loan example and
// compares with a golden file: only the literals change, and the result
// parses, checks, reads back the new values and is riskc fmt-clean.
func TestRewriteGolden(t *testing.T) {
	const path = "../examples/loan/loan.risk"
	prog, _ := loadPolicy(t, path)
	src := []byte(prog.Source)
	texts := make([]string, len(prog.Params))
	want := make([]float64, len(prog.Params))
	for i, prm := range prog.Params {
		switch {
		case prm.Kind == vm.Cutoff:
			texts[i] = "" // kept
		case prm.Unit == "s":
			texts[i] = formatDuration(prm.Value + 86400)
		case prm.IsInt:
			texts[i] = strconv.FormatFloat(prm.Value+1, 'f', -1, 64)
		case prm.Kind == vm.Threshold:
			texts[i] = snapFloat(prm.Value*1.1, 0.1)
		default:
			texts[i] = snapWeight(prm.Value-0.123, false)
		}
		want[i] = prm.Value
		if texts[i] != "" {
			want[i], _ = literalValue(texts[i], prm.Unit)
		}
	}
	out, changes, err := Rewrite(src, prog.Params, texts)
	if err != nil {
		t.Fatal(err)
	}
	out, err = Verify(path, src, out, want, compiler.Options{CheckFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := lang.Parse(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lang.Format(f), out) {
		t.Error("the rewritten policy is not fmt-clean")
	}
	var diff strings.Builder
	for _, c := range changes {
		diff.WriteString(c.Name + ": " + c.Old + " → " + c.New + "\n")
	}
	got := append([]byte(diff.String()+"----\n"), out...)
	const goldenFile = "testdata/loan_rewritten.golden"
	if want := golden.Want(t, goldenFile, got); !bytes.Equal(got, want) {
		t.Errorf("rewritten policy differs from %s (run with -update to accept):\n%s", goldenFile, got)
	}
	// Comments and every line without a parameter are untouched.
	srcLines, outLines := strings.Split(string(src), "\n"), strings.Split(string(out), "\n")
	if len(srcLines) != len(outLines) {
		t.Fatalf("line count changed: %d → %d", len(srcLines), len(outLines))
	}
	paramLine := map[int]bool{}
	for _, prm := range prog.Params {
		paramLine[int(prm.Line)-1] = true
	}
	for i := range srcLines {
		if !paramLine[i] && srcLines[i] != outLines[i] {
			t.Errorf("line %d changed: %q → %q", i+1, srcLines[i], outLines[i])
		}
	}
}

// TestRewriteKeepsUnchanged: empty texts keep the source byte for byte.
func TestRewriteKeepsUnchanged(t *testing.T) {
	prog, _ := loadPolicy(t, "../examples/credit/credit.risk")
	out, changes, err := Rewrite([]byte(prog.Source), prog.Params, make([]string, len(prog.Params)))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != prog.Source {
		t.Error("source changed")
	}
	for _, c := range changes {
		if c.Moved() || strings.TrimSpace(c.Old) != c.Old || c.Old == "" {
			t.Errorf("%s: bad change %q → %q", c.Name, c.Old, c.New)
		}
	}
}
