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

// blocksPolicy has every declaration with a closing brace, each closing
// brace indented differently so a wrong column shows.
const blocksPolicy = `policy p version "1"
events pay, refund

input {
  user   string
  amount float
 }

model m = onnx "m.onnx" {
  inputs   [amount]
  output   "probabilities" [1]
  timeout  20ms
  on_error 0.5
  }

lookup profile = redis "profile:{user}" {
  fields   [segment string]
  ttl      5m
  timeout  10ms
  on_error absent
}

list empty = []
list some = ["a"]

window pays = count() over 1h by user on pay
window all = count() over 1h by user

rule r when amount > 1 emit score 1 reason "x"

decide {
  bias -1
  review when score >= 0.5
  otherwise approve
   }
`

// TestRbracePositions: each block's Rbrace is the position of its own
// closing brace (line, column and offset), which the printer and the
// language server use to place trailing comments and edits.
func TestRbracePositions(t *testing.T) {
	f, err := Parse("b.risk", []byte(blocksPolicy))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, p Pos) {
		t.Helper()
		if p.Offset < 0 || int(p.Offset) >= len(blocksPolicy) || blocksPolicy[p.Offset] != '}' {
			t.Errorf("%s: Rbrace offset %d is not a }", what, p.Offset)
			return
		}
		lineStart := strings.LastIndexByte(blocksPolicy[:p.Offset], '\n') + 1
		line := int32(strings.Count(blocksPolicy[:p.Offset], "\n") + 1)
		if p.Line != line || p.Col != int32(int(p.Offset)-lineStart+1) {
			t.Errorf("%s: Rbrace %d:%d, the brace is at %d:%d", what, p.Line, p.Col, line, int(p.Offset)-lineStart+1)
		}
	}
	found := 0
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *InputDecl:
			check("input", d.Rbrace)
			found++
		case *ModelDecl:
			check("model", d.Rbrace)
			found++
		case *LookupDecl:
			check("lookup", d.Rbrace)
			found++
		case *DecideDecl:
			check("decide", d.Rbrace)
			found++
		}
	}
	if found != 4 {
		t.Fatalf("found %d blocks, want 4", found)
	}
}

// TestListAndWindowShapes: an empty literal list has empty, non-nil
// items (it is not a file list) and formats back as []; a window's `on`
// events are kept, and a window without `on` has none.
func TestListAndWindowShapes(t *testing.T) {
	f, err := Parse("b.risk", []byte(blocksPolicy))
	if err != nil {
		t.Fatal(err)
	}
	lists, windows := map[string]*ListDecl{}, map[string]*WindowDecl{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ListDecl:
			lists[d.Name.Name] = d
		case *WindowDecl:
			windows[d.Name.Name] = d
		}
	}
	if l := lists["empty"]; l == nil || l.File != nil || l.Items == nil || len(l.Items) != 0 {
		t.Errorf("list empty: %+v", l)
	}
	if l := lists["some"]; l == nil || len(l.Items) != 1 {
		t.Errorf("list some: %+v", l)
	}
	if !strings.Contains(string(Format(f)), "list empty = []\n") {
		t.Errorf("formatted:\n%s", Format(f))
	}
	if w := windows["pays"]; w == nil || len(w.On) != 1 || w.On[0].Name != "pay" {
		t.Errorf("window pays: %+v", w)
	}
	if w := windows["all"]; w == nil || w.On != nil {
		t.Errorf("window all: %+v", w)
	}
}

// TestParseDurationTrailingNumber: a number with no unit at the end of a
// duration is an error, not a read past the end of the text.
func TestParseDurationTrailingNumber(t *testing.T) {
	for _, raw := range []string{"10", "1h30", "5m0"} {
		if v, err := ParseDuration(raw); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", raw, v)
		}
	}
	for raw, want := range map[string]float64{"1h30m": 5400, "500ms": 0.5, "2d": 172800, "0s": 0, "1h0m": 3600, "1h9m": 4140, "9s": 9, "1d09h": 118800} {
		if v, err := ParseDuration(raw); err != nil || v != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", raw, v, err, want)
		}
	}
}

// TestOpPos: a binary operator's position is the keyword itself, also at
// the start of a line, and never column 0 when the right operand's place
// leaves no room to step back over the keyword.
func TestOpPos(t *testing.T) {
	src := "policy p version \"1\"\ninput {\n  a int\n  b int\n}\nrule r when a > 1\n  or b > 2\n  and a < 9 emit review reason \"x\"\nrule s when a > 1 or\n  b > 2 emit review reason \"x\"\n"
	f, err := Parse("o.risk", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var ops []*Binary
	for _, d := range f.Decls {
		if r, ok := d.(*RuleDecl); ok {
			Inspect(r.When, func(n Node) bool {
				if b, ok := n.(*Binary); ok && (b.Op == "or" || b.Op == "and") {
					ops = append(ops, b)
				}
				return true
			})
		}
	}
	if len(ops) != 3 {
		t.Fatalf("found %d and/or operators", len(ops))
	}
	// The third: `or` ends line 9 and its right operand starts line 10
	// at column 3, too close to step back over "or ": the position stays
	// on the operand, a real place in the source.
	if p := ops[2].OpPos; p.Line != 10 || p.Col != 3 {
		t.Errorf("trailing or: %d:%d, want 10:3", p.Line, p.Col)
	}
	for _, b := range ops[:2] {
		if got := src[b.OpPos.Offset : int(b.OpPos.Offset)+len(b.Op)]; got != b.Op {
			t.Errorf("%s at offset %d reads %q", b.Op, b.OpPos.Offset, got)
		}
	}
	for _, b := range ops {
		lineStart := strings.LastIndexByte(src[:b.OpPos.Offset], '\n') + 1
		if int(b.OpPos.Col) != int(b.OpPos.Offset)-lineStart+1 {
			t.Errorf("%s: column %d, offset says %d", b.Op, b.OpPos.Col, int(b.OpPos.Offset)-lineStart+1)
		}
	}
}

// TestLiteralDurationSpan: a duration literal in a literal position (a
// list item) ends where its text ends, so its span reads back the text.
func TestLiteralDurationSpan(t *testing.T) {
	src := "policy p version \"1\"\nlist waits = [1h, 30m]\n"
	f, err := Parse("d.risk", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	items := f.Decls[0].(*ListDecl).Items
	if len(items) != 2 {
		t.Fatalf("items %+v", items)
	}
	for i, want := range []string{"1h", "30m"} {
		d, ok := items[i].(*DurationLit)
		if !ok {
			t.Fatalf("item %d is %T", i, items[i])
		}
		if got := src[d.Pos.Offset:d.End]; got != want || d.Raw != want {
			t.Errorf("item %d: span %q raw %q, want %q", i, got, d.Raw, want)
		}
	}
}
