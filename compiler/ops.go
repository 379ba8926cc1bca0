package compiler

import "github.com/riskforge/riskforge/vm"

// Op is an operator of the language: what the checker types, the IR
// carries (Node.Op of NUnary, NBinary and NIn), codegen emits and the
// training graph lowers. The source spelling lives only in opTable.
type Op uint8

// The operators.
const (
	OpNone  Op = iota
	OpNeg      // unary -
	OpNot      // not
	OpAdd      // +
	OpSub      // -
	OpMul      // *
	OpDiv      // /
	OpMod      // %
	OpLt       // <
	OpLe       // <=
	OpGt       // >
	OpGe       // >=
	OpEq       // ==
	OpNe       // !=
	OpAnd      // and
	OpOr       // or
	OpIn       // in
	OpNotIn    // not in
	numOps
)

// opClass groups operators by how they are checked.
type opClass uint8

const (
	classNone   opClass = iota
	classUnary          // - not
	classArith          // + - * / %
	classOrder          // < <= > >=
	classEqual          // == !=
	classLogic          // and or
	classMember         // in, not in
)

// opTable is the one definition of every operator: its spelling, class,
// and the VM opcodes it compiles to on numbers and on strings (0: none).
var opTable = [numOps]struct {
	name  string
	class opClass
	num   vm.Opcode
	str   vm.Opcode
}{
	OpNone:  {"?", classNone, 0, 0},
	OpNeg:   {"-", classUnary, vm.NEG, 0},
	OpNot:   {"not", classUnary, vm.NOT, 0},
	OpAdd:   {"+", classArith, vm.ADD, 0},
	OpSub:   {"-", classArith, vm.SUB, 0},
	OpMul:   {"*", classArith, vm.MUL, 0},
	OpDiv:   {"/", classArith, vm.DIV, 0},
	OpMod:   {"%", classArith, vm.MOD, 0},
	OpLt:    {"<", classOrder, vm.LT, 0},
	OpLe:    {"<=", classOrder, vm.LE, 0},
	OpGt:    {">", classOrder, vm.GT, 0},
	OpGe:    {">=", classOrder, vm.GE, 0},
	OpEq:    {"==", classEqual, vm.EQ, vm.SEQ},
	OpNe:    {"!=", classEqual, vm.NE, vm.SNE},
	OpAnd:   {"and", classLogic, 0, 0},
	OpOr:    {"or", classLogic, 0, 0},
	OpIn:    {"in", classMember, 0, 0},
	OpNotIn: {"not in", classMember, 0, 0},
}

// String returns the operator as written in source.
func (o Op) String() string {
	if o < numOps {
		return opTable[o].name
	}
	return "?"
}

// unaryOp and binaryOp map the parser's spellings to operators.
var unaryOp, binaryOp = func() (u, b map[string]Op) {
	u, b = map[string]Op{}, map[string]Op{}
	for o := OpNone + 1; o < numOps; o++ {
		if opTable[o].class == classUnary {
			u[opTable[o].name] = o
		} else {
			b[opTable[o].name] = o
		}
	}
	return u, b
}()

// unaryOpOf returns the operator of a unary expression as the parser spells it.
func unaryOpOf(spelling string) Op { return unaryOp[spelling] }

// binaryOpOf returns the operator of a binary expression as the parser spells it.
func binaryOpOf(spelling string) Op { return binaryOp[spelling] }

// IsOrder reports whether o is < <= > or >=, the comparisons whose
// literal side becomes a threshold parameter.
func (o Op) IsOrder() bool { return o < numOps && opTable[o].class == classOrder }

// IsLogic reports whether o is and or or.
func (o Op) IsLogic() bool { return o < numOps && opTable[o].class == classLogic }

// Flip returns the order comparison with its sides swapped (x < y is
// y > x); other operators are returned unchanged.
func (o Op) Flip() Op {
	switch o {
	case OpLt:
		return OpGt
	case OpLe:
		return OpGe
	case OpGt:
		return OpLt
	case OpGe:
		return OpLe
	}
	return o
}
