package compiler

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheck runs the whole front end on arbitrary text: parsing and
// checking never panic, and whatever the checker accepts compiles (the
// checker is the only gate) into a program that evaluates.
func FuzzCheck(f *testing.F) {
	files, _ := filepath.Glob("testdata/diag/*.risk")
	examples, _ := filepath.Glob("../examples/*/*.risk")
	for _, path := range append(files, examples...) {
		if src, err := os.ReadFile(path); err == nil {
			f.Add(string(src))
		}
	}
	f.Add(prelude + "rule r\n  when exists(email) and len(email) > 3 or amount between 1 and 2\n  emit score 1 reason \"x\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, diags := CheckSource("fuzz.risk", []byte(src), Options{})
		if diags.HasErrors() {
			return
		}
		prog, _, err := Compile(p, CompileOptions{ReadFile: func(string) ([]byte, error) { return []byte("a\nb\n"), nil }})
		if err != nil {
			t.Fatalf("checked policy failed to compile: %v", err)
		}
		m := prog.NewMachine()
		req := prog.NewRequest()
		for _, ev := range append([]string{""}, prog.Events...) {
			req.Event = ev
			_, _ = m.Eval(req)
		}
	})
}
