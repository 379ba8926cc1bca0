package compiler

import (
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// expr lowers a checked expression. It cannot fail: the checker has
// already accepted e.
func (l *lowerer) expr(e lang.Expr) *Node {
	t := l.p.Types[e]
	pos := e.Position()
	switch e := e.(type) {
	case *lang.Paren:
		return l.expr(e.X)
	case *lang.Ident:
		return l.ident(e)
	case *lang.NumberLit:
		return &Node{Kind: NConst, Type: t, Num: e.Value, Pos: pos}
	case *lang.DurationLit:
		return &Node{Kind: NConst, Type: Duration, Num: e.Seconds, Pos: pos}
	case *lang.StringLit:
		return &Node{Kind: NConst, Type: String, Str: e.Value, Pos: pos}
	case *lang.BoolLit:
		return &Node{Kind: NConst, Type: Bool, Num: b2f(e.Value), Pos: pos}
	case *lang.Unary:
		return fold(&Node{Kind: NUnary, Type: t, Op: unaryOpOf(e.Op), Args: []*Node{l.expr(e.X)}, Pos: pos})
	case *lang.Binary:
		return l.binary(e, t)
	case *lang.Between:
		x := l.expr(e.X)
		lo, hi := l.threshold(e.Lo, e.X, ".lo"), l.threshold(e.Hi, e.X, ".hi")
		return fold(&Node{Kind: NBetween, Type: Bool, Args: []*Node{x, lo, hi}, Pos: pos})
	case *lang.Call:
		return l.call(e, t)
	}
	panic("compiler: unexpected expression")
}

func (l *lowerer) ident(id *lang.Ident) *Node {
	s := l.p.Uses[id]
	n := &Node{Type: s.Type, Index: s.Index, Pos: id.Pos, Slot: l.slotOf(s), Str: s.Name}
	switch s.Kind {
	case SymInput:
		n.Kind = NInput
	case SymLet:
		n.Kind = NLet
	case SymWindow:
		n.Kind = NWindow
	default:
		n.Kind = NModel
	}
	return n
}

func (l *lowerer) binary(e *lang.Binary, t Type) *Node {
	n := &Node{Kind: NBinary, Type: t, Op: binaryOpOf(e.Op), Pos: e.OpPos}
	switch {
	case n.Op == OpIn || n.Op == OpNotIn:
		n.Kind, n.Args, n.Index = NIn, []*Node{l.expr(e.X)}, l.setIndex(e.Y)
	case n.Op.IsOrder():
		n.Args = []*Node{l.threshold(e.X, e.Y, ""), l.threshold(e.Y, e.X, "")}
	default:
		n.Args = []*Node{l.expr(e.X), l.expr(e.Y)}
	}
	return fold(n)
}

// threshold lowers one side of a comparison. A literal compared against
// something that varies becomes a parameter, unless written `fixed` or
// inside a window: window values are fed once, in event order, before any
// parameter could change them, so their numbers are never trained.
func (l *lowerer) threshold(side, other lang.Expr, suffix string) *Node {
	lit := lang.Unparen(side)
	fixed := true
	switch v := lit.(type) {
	case *lang.NumberLit:
		fixed = v.Fixed
	case *lang.DurationLit:
		fixed = v.Fixed
	}
	if _, constant := constEval(other); fixed || constant || l.inWindow {
		return l.expr(side)
	}
	name := l.owner + "." + featureName(other) + suffix
	isInt := l.p.Types[other] == Int
	if v, ok := lit.(*lang.NumberLit); ok {
		isInt = isInt && v.IsInt
	}
	idx := l.param(name, vm.Threshold, lit, isInt)
	return &Node{Kind: NParam, Type: l.p.Types[side], Index: idx, Num: l.ir.Prog.Params[idx].Value, Pos: lit.Position()}
}

// featureName names what a threshold is compared with, for its parameter
// name: the feature itself, or the function and feature (`hour_ts`).
func featureName(e lang.Expr) string {
	switch e := lang.Unparen(e).(type) {
	case *lang.Ident:
		return e.Name
	case *lang.Call:
		if len(e.Args) == 1 {
			return e.Fn.Name + "_" + featureName(e.Args[0])
		}
		return e.Fn.Name
	case *lang.Binary:
		return featureName(e.X)
	}
	return "expr"
}

// setIndex returns the program list for the right side of `in`, adding
// inline literal sets as anonymous lists.
func (l *lowerer) setIndex(e lang.Expr) int {
	switch y := lang.Unparen(e).(type) {
	case *lang.Ident:
		return l.listIndex[l.p.Uses[y].Index]
	case *lang.ListLit:
		prog := l.ir.Prog
		prog.Lists = append(prog.Lists, literalList("", y.Items))
		return len(prog.Lists) - 1
	}
	panic("compiler: unexpected set")
}

func (l *lowerer) call(e *lang.Call, t Type) *Node {
	fn, pos := builtins[e.Fn.Name], e.Pos
	switch fn.form {
	case formExists:
		s := l.p.Uses[lang.Unparen(e.Args[0]).(*lang.Ident)]
		return &Node{Kind: NPresent, Type: Bool, Index: s.Index, Pos: pos}
	case formCoalesce:
		id := lang.Unparen(e.Args[0]).(*lang.Ident)
		s := l.p.Uses[id]
		present := &Node{Kind: NPresent, Type: Bool, Index: s.Index, Pos: pos}
		value := &Node{Kind: NInput, Type: s.Type, Index: s.Index, Slot: l.slotOf(s), Str: s.Name, Pos: id.Pos}
		return &Node{Kind: NIf, Type: t, Args: []*Node{present, value, l.expr(e.Args[1])}, Pos: pos}
	case formIf:
		return fold(&Node{Kind: NIf, Type: t, Args: []*Node{l.expr(e.Args[0]), l.expr(e.Args[1]), l.expr(e.Args[2])}, Pos: pos})
	case formFailed:
		// The lookup's name resolves to its hidden input failed(LOOKUP).
		s := l.p.Uses[lang.Unparen(e.Args[0]).(*lang.Ident)]
		return &Node{Kind: NInput, Type: Bool, Index: s.Index, Slot: l.slotOf(s), Str: s.Name, Pos: pos}
	case formUnit: // days(d) and friends are a division
		div := &Node{Kind: NConst, Type: Float, Num: fn.Unit, Pos: pos}
		return fold(&Node{Kind: NBinary, Type: Float, Op: OpDiv, Args: []*Node{l.expr(e.Args[0]), div}, Pos: pos})
	}
	n := &Node{Kind: NCall, Type: t, Fn: fn, Pos: pos}
	for _, a := range e.Args {
		n.Args = append(n.Args, l.expr(a))
	}
	return fold(n)
}
