package compiler

import (
	"errors"
	"fmt"

	"github.com/riskforge/riskforge/vm"
)

// Probe is one expression of a probe program: a per-row value that the
// training graph (package rules) reads instead of recomputing it. Probes
// are the feature side of threshold comparisons and the boolean parts of
// conditions that hold no parameter (string and list tests, window and
// model values, `fixed` comparisons).
type Probe struct {
	Node *Node
	// Slot is the number slot the value is stored in.
	Slot uint32
}

// ProbeProgram compiles the policy of ir again with one more section,
// placed after the rules and before HALT, that evaluates every expression
// of exprs unconditionally (whatever the event, whatever fired) and stores
// it in a fresh number slot. Evaluation is total, so probes never fail:
// an optional input read where it is absent reads 0.
//
// Run the result and read each probe's value with Machine.NumSlot(Slot);
// everything else (windows, rules, decision) behaves exactly as in the
// serving program, which this function does not modify. exprs must be number or bool typed nodes of ir (or new nodes
// built from them).
func ProbeProgram(ir *IR, exprs []*Node) (*vm.Program, []Probe, error) {
	src := ir.Prog
	prog := *src
	prog.Code, prog.Lines = nil, nil
	prog.NumConsts, prog.StrConsts = nil, nil
	prog.Rules = append([]vm.Rule(nil), src.Rules...)
	cp := *ir
	cp.Prog = &prog
	generate(&cp)
	// generate ends with HALT, which is also where the last rule's RULE
	// instruction jumps; the probe section takes its place.
	prog.Code, prog.Lines = prog.Code[:len(prog.Code)-1], prog.Lines[:len(prog.Lines)-1]
	g := &generator{prog: &prog, numK: map[float64]uint32{}, strK: map[string]uint32{}, policy: ir.Policy}
	for i, k := range prog.NumConsts {
		if _, ok := g.numK[k]; !ok {
			g.numK[k] = uint32(i)
		}
	}
	for i, s := range prog.StrConsts {
		if _, ok := g.strK[s]; !ok {
			g.strK[s] = uint32(i)
		}
	}
	probes := make([]Probe, len(exprs))
	for i, n := range exprs {
		if n == nil || n.Type == String || n.Type == StringList || n.Type == NumberList {
			return nil, nil, fmt.Errorf("probe %d: only number and bool expressions can be probed", i)
		}
		slot := prog.NumSlots
		prog.NumSlots++
		g.node(n)
		g.emit(vm.STOREF, slot)
		probes[i] = Probe{Node: n, Slot: slot}
	}
	g.emit(vm.HALT, 0)
	if err := prog.Prepare(); err != nil {
		return nil, nil, errors.Join(errors.New("internal error building the probe program"), err)
	}
	return &prog, probes, nil
}

// HasParam reports whether n depends on a parameter, directly or through
// the lets it reads.
func HasParam(ir *IR, n *Node) bool {
	seen := map[int]bool{}
	var has func(n *Node) bool
	has = func(n *Node) bool {
		switch n.Kind {
		case NParam:
			return true
		case NLet:
			if seen[n.Index] {
				return false
			}
			seen[n.Index] = true
			return has(ir.Lets[n.Index].Value)
		}
		for _, a := range n.Args {
			if has(a) {
				return true
			}
		}
		return false
	}
	return has(n)
}
