package vm_test

import (
	"testing"

	"github.com/riskforge/riskforge/vm"
)

// TestOpTable checks that every opcode has a mnemonic of its own and a
// stack effect written in the table (fixed, or marked variable), in the
// spirit of starlark-go's opcode table test: a new opcode cannot be added
// without saying what it does to the stacks.
func TestOpTable(t *testing.T) {
	seen := map[string]vm.Opcode{}
	for op := vm.Opcode(0); op < vm.OpcodeCount; op++ {
		name := op.String()
		if name == "" || name == "illegal" {
			t.Errorf("opcode %d has no mnemonic", op)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("opcodes %d and %d are both %q", prev, op, name)
		}
		seen[name] = op
		popF, pushF, popS, pushS, variable, set := vm.StackEffectOf(op)
		if !set {
			t.Errorf("%s: no stack effect in the table", name)
		}
		if variable && popF+pushF+popS+pushS != 0 {
			t.Errorf("%s: a variable effect with fixed counts", name)
		}
	}
	if got := vm.OpcodeCount.String(); got != "illegal" {
		t.Errorf("opcode past the table is %q", got)
	}
}

// TestStepEffects runs generated policies and the example policies with
// the step trace on and checks every executed instruction against the
// table: a fixed effect must be exactly the change in both stack depths;
// a variable one must be what the verifier allows for the path taken
// (JF/JT keep x when they jump and pop it otherwise, MIN/MAX pop A
// numbers and push one). It also checks that the runs execute every
// opcode, so the table is tested against the machine, not against itself.
func TestStepEffects(t *testing.T) {
	executed := map[vm.Opcode]int{}
	check := func(name string, p *vm.Program, d *vm.Decision) {
		prevF, prevS := 0, 0
		for k, st := range d.Trace {
			op := st.Instr.Op
			executed[op]++
			dF, dS := st.Depth-prevF, st.SDepth-prevS
			prevF, prevS = st.Depth, st.SDepth
			popF, pushF, popS, pushS, variable, _ := vm.StackEffectOf(op)
			wantF, wantS := pushF-popF, pushS-popS
			if variable {
				switch op {
				case vm.MIN, vm.MAX:
					wantF, wantS = 1-int(st.Instr.A), 0
				case vm.JF, vm.JT:
					jumped := k+1 < len(d.Trace) && d.Trace[k+1].PC == int(st.Instr.A)
					wantF, wantS = -1, 0
					if jumped {
						wantF = 0
					}
				default:
					t.Fatalf("%s: variable effect of %s not known to the test", name, op)
				}
			}
			if dF != wantF || dS != wantS {
				t.Fatalf("%s: pc %d %s changed the stacks by f%+d s%+d, the table says f%+d s%+d", name, st.PC, op, dF, dS, wantF, wantS)
			}
		}
	}
	for seed := uint64(1); seed <= 12; seed++ {
		gp := generatePolicy(t, seed, genOptions{Rules: 25, Lets: 4, Depth: 4, Events: true, Decide: true})
		p := gp.Prog
		g := newGenerator(seed+1000, genOptions{})
		m := p.NewMachine()
		m.Trace = true
		req := p.NewRequest()
		for i := 0; i < 60; i++ {
			g.request().fill(t, p, req)
			d, err := m.Eval(req)
			if err != nil {
				continue // an event the policy does not declare
			}
			check(gp.Src, p, d)
		}
	}
	for name, p := range testPolicies(t) {
		m := p.NewMachine()
		m.Trace = true
		req := p.NewRequest()
		if len(p.Events) > 0 {
			req.Event = p.Events[0]
		}
		d, err := m.Eval(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		check(name, p, d)
	}
	// NOP is never emitted by the compiler; HALT ends the run before the
	// trace records it.
	for op := vm.Opcode(0); op < vm.OpcodeCount; op++ {
		if executed[op] == 0 && op != vm.NOP && op != vm.HALT {
			t.Errorf("no test run executed %s", op)
		}
	}
}
