package compiler

import (
	"errors"
	"strings"
	"testing"

	"github.com/riskforge/riskforge/api"
)

// TestConstantFoldingEdges compiles conditions whose constant parts the
// compiler folds away and checks the folded program decides as the
// unfolded expression would: between is inclusive at both ends, if picks
// its branch, and a negated constant keeps its sign.
func TestConstantFoldingEdges(t *testing.T) {
	cases := []struct {
		when string
		fire bool
	}{
		{`amount > 0 and 5 between 1 and 10`, true},
		{`amount > 0 and 1 between 1 and 10`, true},
		{`amount > 0 and 10 between 1 and 10`, true},
		{`amount > 0 and 0.5 between 1 and 10`, false},
		{`amount > 0 and 10.5 between 1 and 10`, false},
		{`if(1 < 2, amount, 0) > 0`, true},
		{`if(2 < 1, amount, 0) > 0`, false},
		{`amount > 0 and -(2) < -1`, true},
		{`amount > 0 and -(2) > -1`, false},
	}
	for _, tc := range cases {
		t.Run(tc.when, func(t *testing.T) {
			src := prelude + "rule r\n  when " + tc.when + "\n  emit review reason \"x\"\n"
			prog, _, _, err := Load("t.risk", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			req := prog.NewRequest()
			body := `{"event":"payment","features":{"amount":3,"count":1,"name":"a","flag":true,"ts":"2026-01-01T00:00:00Z","opened":"2025-01-01T00:00:00Z"}}`
			if err := api.DecodeJSON(prog, []byte(body), req); err != nil {
				t.Fatal(err)
			}
			d, err := prog.NewMachine().Eval(req)
			if err != nil {
				t.Fatal(err)
			}
			if fired := len(d.Fired) == 1; fired != tc.fire {
				t.Fatalf("fired %v, want %v", fired, tc.fire)
			}
		})
	}
}

// TestLoad: source is checked and compiled, an artifact (by extension or
// by its magic) is decoded, and each failure says which.
func TestLoad(t *testing.T) {
	src := []byte(prelude + "rule r\n  when amount > 1\n  emit review reason \"x\"\n")
	prog, ir, diags, err := Load("p.risk", src)
	if err != nil || prog == nil || ir == nil || diags.HasErrors() {
		t.Fatalf("source: %v %v %v", prog, diags, err)
	}
	art, err := prog.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"p.rbc", "p.risk", "p"} {
		got, ir, diags, err := Load(path, art)
		if err != nil || got == nil || ir != nil || diags != nil || got.Source != prog.Source {
			t.Errorf("artifact as %s: %v %v %v", path, ir, diags, err)
		}
	}
	if !IsArtifact("x.rbc", nil) || !IsArtifact("x.risk", art) || IsArtifact("x.risk", src) {
		t.Error("IsArtifact")
	}
	if _, _, _, err := Load("bad.rbc", src); err == nil || !strings.HasPrefix(err.Error(), "bad.rbc: artifact: ") {
		t.Errorf("source named .rbc: %v", err)
	}
	bad := []byte(prelude + "rule r\n  when amount > nope\n  emit review reason \"x\"\n")
	p, _, diags, err := Load("bad.risk", bad)
	var list interface{ HasErrors() bool }
	if p != nil || err == nil || !errors.As(err, &list) || !diags.HasErrors() || !strings.Contains(err.Error(), `unknown name "nope"`) {
		t.Errorf("bad source: %v %v %v", p, diags, err)
	}
	missing := []byte(prelude + "list l = file \"nowhere.txt\"\nrule r\n  when name in l\n  emit review reason \"x\"\n")
	if p, _, _, err := Load("missing.risk", missing); p != nil || err == nil {
		t.Errorf("missing list file: %v %v", p, err)
	}
}
