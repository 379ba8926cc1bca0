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
