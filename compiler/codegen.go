package compiler

import (
	"github.com/riskforge/riskforge/vm"
)

// fold replaces n by a constant when its value cannot depend on the
// request, using the VM's own arithmetic so folding and evaluation agree.
func fold(n *Node) *Node {
	switch n.Kind {
	case NBinary:
		if n.Op.IsLogic() {
			return foldLogic(n)
		}
	case NIf:
		if c := n.Args[0]; c.IsConst() {
			if c.Num != 0 {
				return n.Args[1]
			}
			return n.Args[2]
		}
		return n
	}
	for _, a := range n.Args {
		if !a.IsConst() {
			return n
		}
	}
	v, ok := constValue(n)
	if !ok {
		return n
	}
	return &Node{Kind: NConst, Type: n.Type, Num: v, Pos: n.Pos}
}

// constValue computes a node whose arguments are all constant.
func constValue(n *Node) (float64, bool) {
	a := n.Args
	switch n.Kind {
	case NUnary:
		return vm.EvalUnary(opTable[n.Op].num, a[0].Num), true
	case NBinary:
		if a[0].Type == String {
			return vm.EvalString(opTable[n.Op].str, a[0].Str, a[1].Str), true
		}
		return vm.EvalBinary(opTable[n.Op].num, a[0].Num, a[1].Num), true
	case NBetween:
		return b2f(a[0].Num >= a[1].Num && a[0].Num <= a[2].Num), true
	case NCall:
		switch n.Fn.fold {
		case foldUnary:
			return vm.EvalUnary(n.Fn.Opcode, a[0].Num), true
		case foldString:
			return vm.EvalString(n.Fn.Opcode, a[0].Str, a[1].Str), true
		}
	}
	return 0, false
}

// foldLogic simplifies and/or with a constant operand. Evaluation has no
// side effects, so dropping an operand never changes a decision.
func foldLogic(n *Node) *Node {
	x, y := n.Args[0], n.Args[1]
	short := 0.0 // and: false decides alone
	if n.Op == OpOr {
		short = 1
	}
	switch {
	case x.IsConst() && x.Num == short, y.IsConst() && y.Num == short:
		return &Node{Kind: NConst, Type: Bool, Num: short, Pos: n.Pos}
	case x.IsConst():
		return y
	case y.IsConst():
		return x
	}
	return n
}

// generator emits bytecode for an IR.
type generator struct {
	prog   *vm.Program
	numK   map[float64]uint32
	strK   map[string]uint32
	line   int32
	policy *Policy
}

// generate fills ir.Prog's code: window updates, then lets in dependency
// order, then one block per rule that the RULE instruction can skip.
func generate(ir *IR) {
	g := &generator{prog: ir.Prog, numK: map[float64]uint32{}, strK: map[string]uint32{}, policy: ir.Policy}
	for i, arg := range ir.WindowArgs {
		w := ir.Policy.Windows[i]
		g.line = w.Decl.Pos.Line
		op := vm.OBSERVE
		if where := ir.WindowWhere[i]; where != nil {
			g.node(where)
		} else {
			g.emit(vm.PUSHK, g.numConst(1))
		}
		switch {
		case arg == nil:
			g.emit(vm.PUSHK, g.numConst(1))
		default:
			g.node(arg)
			if arg.Type == String {
				op = vm.OBSERVES
			}
		}
		g.emit(op, uint32(i))
	}
	for _, let := range ir.Lets {
		g.node(let.Value)
		if let.Type == String {
			g.emit(vm.STORES, let.Slot)
		} else {
			g.emit(vm.STOREF, let.Slot)
		}
	}
	for i, r := range ir.Rules {
		g.line = r.Rule.Decl.Pos.Line
		g.emit(vm.RULE, uint32(i))
		g.node(r.Cond)
		g.emit(vm.FIRE, uint32(i))
		g.prog.Rules[i].End = uint32(len(g.prog.Code))
	}
	g.emit(vm.HALT, 0)
}

func (g *generator) emit(op vm.Opcode, a uint32) int {
	g.prog.Code = append(g.prog.Code, vm.Instr{Op: op, A: a})
	g.prog.Lines = append(g.prog.Lines, g.line)
	return len(g.prog.Code) - 1
}

// patch points the jump at pc to the current end of code.
func (g *generator) patch(pc int) { g.prog.Code[pc].A = uint32(len(g.prog.Code)) }

func (g *generator) numConst(v float64) uint32 {
	if k, ok := g.numK[v]; ok {
		return k
	}
	k := uint32(len(g.prog.NumConsts))
	g.prog.NumConsts = append(g.prog.NumConsts, v)
	g.numK[v] = k
	return k
}

func (g *generator) strConst(s string) uint32 {
	if k, ok := g.strK[s]; ok {
		return k
	}
	k := uint32(len(g.prog.StrConsts))
	g.prog.StrConsts = append(g.prog.StrConsts, s)
	g.strK[s] = k
	return k
}

func (g *generator) load(n *Node) {
	if n.Type == String {
		g.emit(vm.LOADS, n.Slot)
	} else {
		g.emit(vm.LOADF, n.Slot)
	}
}

func (g *generator) node(n *Node) {
	if n.Pos.Line > 0 {
		g.line = n.Pos.Line
	}
	switch n.Kind {
	case NConst:
		if n.Type == String {
			g.emit(vm.PUSHS, g.strConst(n.Str))
		} else {
			g.emit(vm.PUSHK, g.numConst(n.Num))
		}
	case NParam:
		g.emit(vm.PARAM, uint32(n.Index))
	case NInput, NLet, NWindow:
		g.load(n)
	case NModel:
		g.emit(vm.MODEL, uint32(n.Index))
	case NPresent:
		g.emit(vm.PRESENT, uint32(n.Index))
	case NUnary:
		g.node(n.Args[0])
		g.emit(opTable[n.Op].num, 0)
	case NBinary:
		g.binary(n)
	case NIn:
		g.in(n)
	case NBetween:
		g.args(n)
		g.emit(vm.BETWEEN, 0)
	case NCall:
		g.call(n)
	case NIf:
		g.node(n.Args[0])
		toElse := g.emit(vm.JFPOP, 0)
		g.node(n.Args[1])
		toEnd := g.emit(vm.JMP, 0)
		g.patch(toElse)
		g.node(n.Args[2])
		g.patch(toEnd)
	}
}

func (g *generator) args(n *Node) {
	for _, a := range n.Args {
		g.node(a)
	}
}

func (g *generator) binary(n *Node) {
	switch n.Op {
	case OpAnd, OpOr:
		g.node(n.Args[0])
		op := vm.JF
		if n.Op == OpOr {
			op = vm.JT
		}
		j := g.emit(op, 0)
		g.node(n.Args[1])
		g.patch(j)
		return
	}
	g.args(n)
	if n.Args[0].Type == String {
		g.emit(opTable[n.Op].str, 0)
	} else {
		g.emit(opTable[n.Op].num, 0)
	}
}

func (g *generator) in(n *Node) {
	g.node(n.Args[0])
	if g.prog.Lists[n.Index].IsNum {
		g.emit(vm.INNUM, uint32(n.Index))
	} else {
		g.emit(vm.INSTR, uint32(n.Index))
	}
	if n.Op == OpNotIn {
		g.emit(vm.NOT, 0)
	}
}

func (g *generator) call(n *Node) {
	g.args(n)
	a := uint32(0)
	if n.Fn.Count {
		a = uint32(len(n.Args))
	}
	g.emit(n.Fn.Opcode, a)
}
