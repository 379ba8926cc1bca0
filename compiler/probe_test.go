package compiler

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

const probePolicy = `policy p version "1"

events a, b

input {
  amount float
  country string
  n int default 0
}

let big = amount > 100

rule r1
  on a
  when big and country == "DE"
  emit score 1.0 reason "x"

rule r2
  when n >= 3 or country in ["FR", "NL"]
  emit review reason "y"
`

// TestProbeProgram evaluates probes unconditionally, whatever the event
// and whatever fired, and leaves the serving program as it was.
func TestProbeProgram(t *testing.T) {
	pol, diags := CheckSource("p.risk", []byte(probePolicy), Options{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, ir, err := Compile(pol, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	codeLen, slots := len(prog.Code), prog.NumSlots
	r1, r2 := ir.Rules[0].Cond, ir.Rules[1].Cond
	exprs := []*Node{
		ir.Lets[0].Value.Args[0], // amount (the feature side of amount > 100)
		r1.Args[1],               // country == "DE"
		r2.Args[1],               // country in [...]
		r2.Args[0].Args[0],       // n
	}
	pp, probes, err := ProbeProgram(ir, exprs)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.Code) != codeLen || prog.NumSlots != slots {
		t.Fatal("ProbeProgram changed the serving program")
	}
	if !HasParam(ir, r1) || HasParam(ir, r1.Args[1]) {
		t.Error("HasParam: r1 reads a parameter through its let; country == \"DE\" does not")
	}
	req := pp.NewRequest()
	// Event b: r1 does not run, but its probes are still evaluated.
	if err := pp.SetText(req, pp.InputIndex("amount"), "250"); err != nil {
		t.Fatal(err)
	}
	if err := pp.SetText(req, pp.InputIndex("country"), "DE"); err != nil {
		t.Fatal(err)
	}
	if err := pp.SetText(req, pp.InputIndex("n"), "4"); err != nil {
		t.Fatal(err)
	}
	req.Event = "b"
	if err := pp.Complete(req); err != nil {
		t.Fatal(err)
	}
	m := pp.NewMachine()
	d, err := m.Eval(req)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{250, 1, 0, 4}
	got := make([]float64, len(probes))
	for i, p := range probes {
		got[i] = m.NumSlot(p.Slot)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("probe %d = %v, want %v", i, got[i], want[i])
		}
	}
	// The decision is the serving program's.
	sm := prog.NewMachine()
	sd, err := sm.Eval(req)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Score != d.Score || sd.Action != d.Action || len(sd.Fired) != len(d.Fired) || d.Action != vm.Review {
		t.Errorf("probe program decides %v %v, serving program %v %v", d.Action, d.Score, sd.Action, sd.Score)
	}
}
