package compiler

import (
	"github.com/riskforge/riskforge/lang"
	"github.com/riskforge/riskforge/vm"
)

// NodeKind is the kind of an IR node.
type NodeKind uint8

// IR node kinds.
const (
	NConst   NodeKind = iota // Num or Str
	NParam                   // tunable number: Index into the parameter table
	NInput                   // input value: Index is the input, Slot its slot
	NLet                     // a let's value: Index into IR.Lets, Slot its slot
	NWindow                  // a window aggregate: Index into Windows, Slot
	NModel                   // a model output: Index into Models
	NPresent                 // exists(input): Index is the input
	NUnary                   // Op OpNeg or OpNot
	NBinary                  // Op arithmetic, comparison, OpAnd, OpOr
	NIn                      // Args[0] in list Index; Op OpIn or OpNotIn
	NBetween                 // Args: x, lo, hi
	NCall                    // Fn is the builtin
	NIf                      // Args: cond, then, else
)

// Node is a typed IR expression. The IR is what both back ends read: the
// bytecode generator here and the differentiable graph in package rules.
type Node struct {
	Kind  NodeKind
	Type  Type
	Op    Op       // NUnary, NBinary, NIn
	Fn    *Builtin // NCall
	Args  []*Node
	Num   float64
	Str   string
	Index int
	Slot  uint32
	Pos   lang.Pos
}

// OpName is n's operator or function as written in source ("" for
// nodes with neither).
func (n *Node) OpName() string {
	switch {
	case n.Fn != nil:
		return n.Fn.Name
	case n.Op != OpNone:
		return n.Op.String()
	}
	return ""
}

// IsConst reports whether n is a constant.
func (n *Node) IsConst() bool { return n.Kind == NConst }

// LetIR is a let lowered to IR, in evaluation order.
type LetIR struct {
	Name  string
	Type  Type
	Slot  uint32
	Value *Node
}

// RuleIR is a rule lowered to IR.
type RuleIR struct {
	Rule *Rule
	Cond *Node
}

// IR is a lowered policy: program metadata (schema, parameter table,
// lists, models, windows, rules, decide) plus typed expression trees.
type IR struct {
	Policy      *Policy
	Prog        *vm.Program // metadata; Code is filled by codegen
	Lets        []*LetIR
	Rules       []*RuleIR
	WindowArgs  []*Node // per window; nil for count()
	WindowWhere []*Node // per window; nil when it has no where condition
}
