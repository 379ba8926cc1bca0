package compiler

import "github.com/riskforge/riskforge/lang"

// constVal is the value of a constant expression.
type constVal struct {
	kind Type // Bool, Float or String
	b    bool
	f    float64
	s    string
}

// constEval folds e when its value does not depend on the request. It is
// deliberately small: literals, not, and/or (with short-circuit, so
// `false and x` is constant), arithmetic, comparisons and `in` over a
// literal set. Anything else is "not constant".
func constEval(e lang.Expr) (constVal, bool) {
	switch e := e.(type) {
	case *lang.Paren:
		return constEval(e.X)
	case *lang.BoolLit:
		return constVal{kind: Bool, b: e.Value}, true
	case *lang.NumberLit:
		return constVal{kind: Float, f: e.Value}, true
	case *lang.StringLit:
		return constVal{kind: String, s: e.Value}, true
	case *lang.Unary:
		v, ok := constEval(e.X)
		if !ok {
			return v, false
		}
		if unaryOpOf(e.Op) == OpNot {
			return constVal{kind: Bool, b: !v.b}, true
		}
		return constVal{kind: Float, f: -v.f}, true
	case *lang.Binary:
		return constBinary(e)
	}
	return constVal{}, false
}

func constBinary(e *lang.Binary) (constVal, bool) {
	x, xok := constEval(e.X)
	op := binaryOpOf(e.Op)
	if op.IsLogic() {
		short := op == OpOr // the value that decides alone
		y, yok := constEval(e.Y)
		switch {
		case xok && x.b == short, yok && y.b == short:
			return constVal{kind: Bool, b: short}, true
		case xok && yok:
			return constVal{kind: Bool, b: !short}, true
		}
		return constVal{}, false
	}
	if op == OpIn || op == OpNotIn {
		set, ok := lang.Unparen(e.Y).(*lang.ListLit)
		if !xok || !ok {
			return constVal{}, false
		}
		found := false
		for _, it := range set.Items {
			v, _ := constEval(it)
			found = found || v == x
		}
		return constVal{kind: Bool, b: found == (op == OpIn)}, true
	}
	y, yok := constEval(e.Y)
	if !xok || !yok {
		return constVal{}, false
	}
	return constCompare(op, x, y)
}

func constCompare(op Op, x, y constVal) (constVal, bool) {
	if x.kind == String {
		switch op {
		case OpEq:
			return constVal{kind: Bool, b: x.s == y.s}, true
		case OpNe:
			return constVal{kind: Bool, b: x.s != y.s}, true
		}
		return constVal{}, false
	}
	if x.kind == Bool {
		return constVal{kind: Bool, b: (x.b == y.b) == (op == OpEq)}, true
	}
	a, b := x.f, y.f
	switch op {
	case OpLt:
		return constVal{kind: Bool, b: a < b}, true
	case OpLe:
		return constVal{kind: Bool, b: a <= b}, true
	case OpGt:
		return constVal{kind: Bool, b: a > b}, true
	case OpGe:
		return constVal{kind: Bool, b: a >= b}, true
	case OpEq:
		return constVal{kind: Bool, b: a == b}, true
	case OpNe:
		return constVal{kind: Bool, b: a != b}, true
	case OpAdd:
		return constVal{kind: Float, f: a + b}, true
	case OpSub:
		return constVal{kind: Float, f: a - b}, true
	case OpMul:
		return constVal{kind: Float, f: a * b}, true
	}
	return constVal{}, false
}
