package compiler

import (
	"github.com/riskforge/riskforge/lang"
)

// guards is the set of optional inputs known to be present at a point of
// an expression (because an enclosing exists(x) has been tested).
type guards map[string]bool

// with returns g extended by more; neither is ever modified (the result
// may be one of them), so guard sets can be shared.
func (g guards) with(more guards) guards {
	if len(more) == 0 {
		return g
	}
	if len(g) == 0 {
		return more
	}
	out := make(guards, len(g)+len(more))
	for k := range g {
		out[k] = true
	}
	for k := range more {
		out[k] = true
	}
	return out
}

// factKey memoizes facts: an expression and the value it is tested for.
type factKey struct {
	e    lang.Expr
	want bool
}

// facts returns the optional inputs proven present when e evaluates to
// want: exists(x) proves x when true, `not` flips, `and` joins proofs when
// true and `or` joins them when false. Results are memoized: the checker
// asks for the facts of every left operand of an `and` chain, and without
// the memo each question walked the whole chain below it again, which
// made a chain of N terms cost N² (10,000 terms took seconds).
func (c *checker) facts(e lang.Expr, want bool) guards {
	k := factKey{e, want}
	if g, ok := c.factMemo[k]; ok {
		return g
	}
	g := c.factsOf(e, want)
	if c.factMemo == nil {
		c.factMemo = map[factKey]guards{}
	}
	c.factMemo[k] = g
	return g
}

func (c *checker) factsOf(e lang.Expr, want bool) guards {
	c.factWalks++
	switch e := lang.Unparen(e).(type) {
	case *lang.Call:
		if want && builtins[e.Fn.Name] != nil && builtins[e.Fn.Name].form == formExists && len(e.Args) == 1 {
			if id, ok := lang.Unparen(e.Args[0]).(*lang.Ident); ok {
				return guards{id.Name: true}
			}
		}
	case *lang.Unary:
		if unaryOpOf(e.Op) == OpNot {
			return c.facts(e.X, !want)
		}
	case *lang.Binary:
		if op := binaryOpOf(e.Op); (op == OpAnd && want) || (op == OpOr && !want) {
			return c.facts(e.X, want).with(c.facts(e.Y, want))
		}
	}
	return nil
}

// expr checks e under guards g, records and returns its type. Invalid
// means an error was already reported; callers stay quiet about it.
func (c *checker) expr(e lang.Expr, g guards) Type {
	t := c.exprType(e, g)
	c.p.Types[e] = t
	return t
}

func (c *checker) exprType(e lang.Expr, g guards) Type {
	switch e := e.(type) {
	case *lang.Ident:
		return c.ident(e, g)
	case *lang.NumberLit:
		if e.IsInt {
			return Int
		}
		return Float
	case *lang.DurationLit:
		return Duration
	case *lang.StringLit:
		return String
	case *lang.BoolLit:
		return Bool
	case *lang.ListLit:
		c.errs.Add(e.Pos, "a list literal can only appear on the right of in or not in")
		return Invalid
	case *lang.Paren:
		return c.expr(e.X, g)
	case *lang.Unary:
		return c.unary(e, g)
	case *lang.Binary:
		return c.binary(e, g)
	case *lang.Between:
		return c.between(e, g)
	case *lang.Call:
		return c.call(e, g)
	}
	return Invalid
}

func (c *checker) lookup(id *lang.Ident) *Symbol {
	s, ok := c.symbols[id.Name]
	if !ok {
		e := c.errs.Add(id.Pos, "unknown name %q", id.Name)
		e.Hint = suggest(id.Name, c.names)
		return nil
	}
	s.used = true
	c.p.Uses[id] = s
	return s
}

func (c *checker) ident(id *lang.Ident, g guards) Type {
	s := c.lookup(id)
	if s == nil {
		return Invalid
	}
	switch s.Kind {
	case SymLet:
		if l := c.lets[id.Name]; l != nil && l.Sym == s {
			return c.resolveLet(l)
		}
	case SymModel:
		// A model reads its inputs when first used, so the lets it reads
		// must be ordered before whatever uses the model.
		for _, in := range c.p.Models[s.Index].Decl.Inputs {
			if l := c.lets[in.Name]; l != nil {
				c.resolveLet(l)
			}
		}
	case SymList:
		c.errs.Add(id.Pos, "list %q can only appear on the right of in or not in", id.Name)
		return Invalid
	case SymInput:
		if in := c.p.Inputs[s.Index]; in.Optional && !g[id.Name] {
			e := c.errs.Add(id.Pos, "optional input %q used without an exists(%s) guard", id.Name, id.Name)
			e.Hint = "write exists(" + id.Name + ") and ..., or coalesce(" + id.Name + ", DEFAULT)"
			return Invalid
		}
	}
	return s.Type
}

func (c *checker) unary(e *lang.Unary, g guards) Type {
	t := c.expr(e.X, g)
	if t == Invalid {
		return Invalid
	}
	if unaryOpOf(e.Op) == OpNot {
		if t != Bool {
			c.errs.Add(e.Pos, "not needs a bool, got %s", t)
			return Invalid
		}
		return Bool
	}
	if !t.IsNumber() && t != Duration {
		c.errs.Add(e.Pos, "cannot negate %s", t)
		return Invalid
	}
	return t
}

func (c *checker) binary(e *lang.Binary, g guards) Type {
	op := binaryOpOf(e.Op)
	switch opTable[op].class {
	case classLogic:
		return c.logical(e, g)
	case classMember:
		return c.membership(e, g)
	}
	x, y := c.expr(e.X, g), c.expr(e.Y, g)
	if x == Invalid || y == Invalid {
		return Invalid
	}
	var t Type
	switch opTable[op].class {
	case classArith:
		t = arithResult(op, x, y)
	case classOrder:
		t = Invalid
		if ordered(x, y) {
			t = Bool
		}
	case classEqual:
		t = Invalid
		if x == y || (x.IsNumber() && y.IsNumber()) {
			t = Bool
		}
	}
	if t == Invalid {
		err := c.errs.Add(e.OpPos, "cannot apply %s to %s and %s", e.Op, x, y)
		if x == String && y == String {
			err.Hint = "strings support only == and !="
		}
	}
	return t
}

// ordered reports whether < <= > >= compare x and y.
func ordered(x, y Type) bool {
	return (x.IsNumber() && y.IsNumber()) || (x == y && (x == Duration || x == Time))
}

// arithResult is the type of x OP y for + - * / %, or Invalid.
func arithResult(op Op, x, y Type) Type {
	if x.IsNumber() && y.IsNumber() {
		if op == OpDiv {
			return Float
		}
		return arith(x, y)
	}
	switch {
	case op == OpAdd && ((x == Time && y == Duration) || (x == Duration && y == Time)):
		return Time
	case op == OpSub && x == Time && y == Duration:
		return Time
	case op == OpSub && x == Time && y == Time:
		return Duration
	case (op == OpAdd || op == OpSub) && x == Duration && y == Duration:
		return Duration
	case op == OpMul && ((x == Duration && y.IsNumber()) || (x.IsNumber() && y == Duration)):
		return Duration
	case op == OpDiv && x == Duration && y.IsNumber():
		return Duration
	case op == OpDiv && x == Duration && y == Duration:
		return Float
	}
	return Invalid
}

func (c *checker) logical(e *lang.Binary, g guards) Type {
	x := c.expr(e.X, g)
	gy := g.with(c.facts(e.X, binaryOpOf(e.Op) == OpAnd))
	y := c.expr(e.Y, gy)
	bad := false
	for _, side := range []struct {
		t Type
		e lang.Expr
	}{{x, e.X}, {y, e.Y}} {
		if side.t != Invalid && side.t != Bool {
			c.errs.Add(side.e.Position(), "%s needs bool operands, got %s", e.Op, side.t)
			bad = true
		}
	}
	if bad || x == Invalid || y == Invalid {
		return Invalid
	}
	return Bool
}

func (c *checker) membership(e *lang.Binary, g guards) Type {
	x := c.expr(e.X, g)
	var set Type
	switch y := lang.Unparen(e.Y).(type) {
	case *lang.ListLit:
		if len(y.Items) == 0 {
			c.errs.Add(y.Pos, "%s needs at least one value in its set", e.Op)
			return Invalid
		}
		set = c.literalSet(y.Items)
	case *lang.Ident:
		s := c.lookup(y)
		if s == nil {
			return Invalid
		}
		set = s.Type
		if s.Kind != SymList {
			c.errs.Add(y.Pos, "%s needs a list or a literal set on its right; %q is %s", e.Op, y.Name, s.Kind.article())
			return Invalid
		}
	default:
		c.errs.Add(e.Y.Position(), "%s needs a list name or a literal set [..] on its right", e.Op)
		return Invalid
	}
	c.p.Types[e.Y] = set
	if x == Invalid || set == Invalid {
		return Invalid
	}
	if (set == StringList && x != String) || (set == NumberList && !x.IsNumber()) {
		c.errs.Add(e.OpPos, "cannot test %s %s %s: element types differ", x, e.Op, set)
		return Invalid
	}
	return Bool
}

func (c *checker) between(e *lang.Between, g guards) Type {
	x, lo, hi := c.expr(e.X, g), c.expr(e.Lo, g), c.expr(e.Hi, g)
	if x == Invalid || lo == Invalid || hi == Invalid {
		return Invalid
	}
	if !ordered(x, lo) || !ordered(x, hi) {
		c.errs.Add(e.Pos, "between needs three numbers, durations or times; got %s between %s and %s", x, lo, hi)
		return Invalid
	}
	return Bool
}
