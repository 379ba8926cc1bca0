package lang

import (
	"strconv"
	"strings"
)

// Binding strength of expressions, loosest first; it mirrors the grammar's
// precedence levels (see grammar.go).
const (
	precOr = iota + 1
	precAnd
	precNot
	precCmp
	precAdd
	precMul
	precUnary
	precPrimary
)

// FormatExpr renders an expression on one line in canonical form: single
// spaces around binary operators, `not x`, `-x`, `f(a, b)`, `["a", "b"]`.
// Parentheses written in the source (Paren nodes) are kept; for trees built
// by hand, parentheses are added where precedence requires them.
func FormatExpr(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e, 0)
	return b.String()
}

// exprPrec is how tightly e binds as an operand.
func exprPrec(e Expr) int {
	switch x := e.(type) {
	case *Binary:
		return binaryPrec(x.Op)
	case *Unary:
		if x.Op == "not" {
			return precNot
		}
		return precUnary
	case *Between:
		return precCmp
	case *NumberLit:
		if !x.Fixed && strings.HasPrefix(x.Raw, "-") {
			return precUnary
		}
	}
	return precPrimary
}

func binaryPrec(op string) int {
	switch op {
	case "or":
		return precOr
	case "and":
		return precAnd
	case "+", "-":
		return precAdd
	case "*", "/", "%":
		return precMul
	}
	return precCmp
}

// operandPrecs gives the minimum binding strength of the left and right
// operands of op: and/or and arithmetic associate to the left, while
// comparisons do not chain at all.
func operandPrecs(op string) (left, right int) {
	p := binaryPrec(op)
	if p == precCmp {
		return p + 1, p + 1
	}
	return p, p + 1
}

// writeExpr writes e, in parentheses when it binds looser than min.
func writeExpr(b *strings.Builder, e Expr, min int) {
	if isNilExpr(e) {
		return
	}
	if exprPrec(e) < min {
		b.WriteByte('(')
		writeExpr(b, e, 0)
		b.WriteByte(')')
		return
	}
	switch x := e.(type) {
	case *Binary:
		l, r := operandPrecs(x.Op)
		writeExpr(b, x.X, l)
		b.WriteString(" " + x.Op + " ")
		writeExpr(b, x.Y, r)
	case *Unary:
		writeUnary(b, x)
	case *Between:
		writeExpr(b, x.X, precAdd)
		b.WriteString(" between ")
		writeExpr(b, x.Lo, precAdd)
		b.WriteString(" and ")
		writeExpr(b, x.Hi, precAdd)
	case *Paren:
		b.WriteByte('(')
		writeExpr(b, x.X, 0)
		b.WriteByte(')')
	case *Call:
		b.WriteString(identName(x.Fn))
		writeList(b, "(", x.Args, ")")
	case *ListLit:
		writeList(b, "[", x.Items, "]")
	default:
		b.WriteString(literalText(e))
	}
}

func writeUnary(b *strings.Builder, x *Unary) {
	if x.Op == "not" {
		b.WriteString("not ")
		writeExpr(b, x.X, precNot)
		return
	}
	operand := formatOperand(x.X, precUnary)
	b.WriteString(x.Op)
	if strings.HasPrefix(operand, "-") {
		b.WriteByte(' ') // `- -2`, not `--2`
	}
	b.WriteString(operand)
}

// formatOperand is FormatExpr for an operand that must bind at least as
// tightly as min; looser trees are parenthesised.
func formatOperand(e Expr, min int) string {
	var b strings.Builder
	writeExpr(&b, e, min)
	return b.String()
}

func writeList(b *strings.Builder, open string, items []Expr, close string) {
	b.WriteString(open)
	for i, it := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeExpr(b, it, 0)
	}
	b.WriteString(close)
}

// literalText renders identifiers and literals.
func literalText(e Expr) string {
	switch x := e.(type) {
	case *Ident:
		return x.Name
	case *NumberLit:
		return fixedPrefix(x.Fixed) + numberRaw(x)
	case *DurationLit:
		return fixedPrefix(x.Fixed) + x.Raw
	case *StringLit:
		return strconv.Quote(x.Value)
	case *BoolLit:
		return strconv.FormatBool(x.Value)
	}
	return ""
}

func numberRaw(n *NumberLit) string {
	if n.Raw != "" {
		return n.Raw
	}
	return strconv.FormatFloat(n.Value, 'g', -1, 64)
}

func fixedPrefix(fixed bool) string {
	if fixed {
		return "fixed "
	}
	return ""
}

func identName(id *Ident) string {
	if id == nil {
		return ""
	}
	return id.Name
}

// isNilExpr reports a nil interface or a typed nil pointer, so that a
// partially built tree prints as far as it goes instead of panicking.
func isNilExpr(e Expr) bool {
	switch x := e.(type) {
	case nil:
		return true
	case *Ident:
		return x == nil
	case *NumberLit:
		return x == nil
	case *DurationLit:
		return x == nil
	case *StringLit:
		return x == nil
	case *BoolLit:
		return x == nil
	case *ListLit:
		return x == nil
	case *Call:
		return x == nil
	case *Unary:
		return x == nil
	case *Binary:
		return x == nil
	case *Between:
		return x == nil
	case *Paren:
		return x == nil
	}
	return false
}

// exprLines returns the first and last source line of e, approximated
// from the positions of the nodes inside it (closing brackets carry no
// position). Both are 0 when e has no positions.
func exprLines(e Expr) (first, last int32) {
	if isNilExpr(e) {
		return 0, 0
	}
	first = e.Position().Line
	walkLines(e, func(l int32) { last = max(last, l) })
	return first, last
}

// walkLines calls fn with the line of e and of every node and operator
// below it.
func walkLines(e Expr, fn func(int32)) {
	if isNilExpr(e) {
		return
	}
	fn(e.Position().Line)
	switch x := e.(type) {
	case *Binary:
		fn(x.OpPos.Line)
		walkLinesOf(fn, x.X, x.Y)
	case *Unary:
		walkLines(x.X, fn)
	case *Between:
		walkLinesOf(fn, x.X, x.Lo, x.Hi)
	case *Paren:
		walkLines(x.X, fn)
	case *Call:
		walkLinesOf(fn, x.Fn)
		walkLinesOf(fn, x.Args...)
	case *ListLit:
		walkLinesOf(fn, x.Items...)
	}
}

func walkLinesOf(fn func(int32), es ...Expr) {
	for _, e := range es {
		walkLines(e, fn)
	}
}

// logicOperand is one operand of a flattened and/or chain.
type logicOperand struct {
	op  string // "and" or "or" before it; "" for the first
	x   Expr
	min int // binding strength the operand must have
}

// flattenLogic splits the top-level and/or chain of e into its operands in
// source order, so a long condition can be broken before each operator.
func flattenLogic(e Expr, min int, op string, out []logicOperand) []logicOperand {
	b, ok := e.(*Binary)
	if !ok || b == nil || (b.Op != "and" && b.Op != "or") || binaryPrec(b.Op) < min {
		return append(out, logicOperand{op: op, x: e, min: min})
	}
	l, r := operandPrecs(b.Op)
	out = flattenLogic(b.X, l, op, out)
	return flattenLogic(b.Y, r, b.Op, out)
}
